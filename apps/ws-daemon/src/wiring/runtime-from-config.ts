import type { DaemonConfig } from "../config/index.js";
import { DockerRuntime, ProcessRuntime, type RuntimeDiscovery } from "../runtime/index.js";

/** The container runtime the config names; a process runtime gets the configured root pids. */
export function runtimeFromConfig(config: DaemonConfig["runtime"]): RuntimeDiscovery {
  if (config.kind === "docker") {
    return new DockerRuntime({ socketPath: config.socketPath, labelKey: config.label });
  }
  const runtime = new ProcessRuntime();
  for (const [id, pid] of Object.entries(config.workspaces)) runtime.register(id, pid);
  return runtime;
}
