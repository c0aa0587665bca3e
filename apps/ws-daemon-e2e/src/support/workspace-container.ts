import type { StartedTestContainer } from "testcontainers";
import { Wait } from "testcontainers";
import { idleEntrypoint } from "./containers.js";
import { TunedContainer, WORKSPACE_LABEL } from "./daemon-container.js";
import { e2eLabels } from "./labels.js";

/** Where workspace containers see their daemon socket directory. */
export const IN_CONTAINER_SOCKET = "/.workspace/daemon.sock";

export interface WorkspaceContainerOptions {
  image: string;
  workspaceId: string;
  /** Host directory `<area>/.sockets/<id>`. */
  socketDir: string;
  memoryBytes?: number;
}

/**
 * A workspace container from the daemon image (it has node and wsdctl): unprivileged,
 * but allowed to create user namespaces (seccomp unconfined) and with unmasked /proc, the way
 * a workspace runtime starts containers that nest a user namespace. The discovery label ties
 * it to its workspace.
 */
export async function startWorkspaceContainer(
  options: WorkspaceContainerOptions,
): Promise<StartedTestContainer> {
  let builder = new TunedContainer(options.image)
    .withLabels({ ...e2eLabels, [WORKSPACE_LABEL]: options.workspaceId })
    .withSecurityOpt("seccomp=unconfined", "apparmor=unconfined")
    .withUnmaskedSystemPaths()
    .withBindMounts([{ source: options.socketDir, target: "/.workspace", mode: "rw" }])
    .withEntrypoint([...idleEntrypoint])
    .withWaitStrategy(Wait.forLogMessage("e2e-idle-ready"))
    .withStartupTimeout(60_000);
  if (options.memoryBytes) builder = builder.withMemoryLimit(options.memoryBytes);
  return builder.start();
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `wsdctl iws <args>` inside the workspace container against its mounted socket. Exit codes
 * are wsdctl's: 2 for a wrong command line, 64 + the gRPC status code for a failed call.
 */
export async function iwsCli(
  container: StartedTestContainer,
  args: readonly string[],
): Promise<CliResult> {
  const result = await container.exec(["wsdctl", "--socket", IN_CONTAINER_SOCKET, "iws", ...args]);
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** Like iwsCli, but fails with the CLI's stderr unless it exits 0; returns the parsed JSON. */
export async function iwsCliOk(
  container: StartedTestContainer,
  args: readonly string[],
): Promise<Record<string, unknown>> {
  const result = await iwsCli(container, args);
  if (result.exitCode !== 0) {
    throw new Error(
      `wsdctl iws ${args.join(" ")} exited ${result.exitCode}: ${result.stderr.trim()}`,
    );
  }
  return JSON.parse(result.stdout) as Record<string, unknown>;
}
