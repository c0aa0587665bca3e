import type { DaemonConfig } from "../config/index.js";
import {
  CriRuntime,
  DockerRuntime,
  ProcessRuntime,
  type RuntimeDiscovery,
} from "../runtime/index.js";

/** The container runtime the config names; a process runtime gets the configured root pids. */
export function runtimeFromConfig(config: DaemonConfig["runtime"]): RuntimeDiscovery {
  switch (config.kind) {
    case "docker":
      return new DockerRuntime({
        socketPath: config.socketPath,
        labelKey: config.label,
        waitForContainerMs: config.waitForContainerMs,
      });
    case "cri":
      return new CriRuntime({
        socketPath: config.socketPath,
        podLabel: config.podLabel,
        containerName: config.containerName,
        maxWaitMs: config.waitForContainerMs,
      });
    case "process": {
      const runtime = new ProcessRuntime();
      for (const [id, pid] of Object.entries(config.workspaces)) runtime.register(id, pid);
      return runtime;
    }
  }
}
