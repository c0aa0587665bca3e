import { GenericContainer, type StartedTestContainer, Wait } from "testcontainers";
import { e2eLabels } from "./labels.js";

/**
 * A container from `image` carrying the suite's cleanup label. Every container a test starts
 * should come from here so a crashed run's leftovers can be found by label.
 */
export function labelledContainer(image: string): GenericContainer {
  return new GenericContainer(image).withLabels(e2eLabels);
}

/**
 * The image's own HEALTHCHECK probe, polled every second: the image's production interval
 * (10 s) would make every daemon start in a test wait that long for `Wait.forHealthCheck()`.
 */
export const fastDaemonHealthCheck: Parameters<GenericContainer["withHealthCheck"]>[0] = {
  test: ["CMD", "node", "/opt/ws-daemon/dist/healthcheck.js"],
  interval: 1_000,
  timeout: 5_000,
  retries: 3,
};

const IDLE_READY = "e2e-idle-ready";

/**
 * An entrypoint that only idles, for containers tests exec commands in. As PID 1 a process
 * gets no default signal handlers, so it exits on SIGTERM explicitly: `stop()` then takes
 * milliseconds instead of Docker's 10 s kill timeout.
 */
export const idleEntrypoint: readonly string[] = [
  "node",
  "-e",
  `process.on("SIGTERM", () => process.exit(0)); console.log(${JSON.stringify(IDLE_READY)});` +
    " setInterval(() => {}, 1 << 30);",
];

/** A labelled container from `image` running idleEntrypoint (the image must contain node). */
export function idleContainer(image: string): GenericContainer {
  return labelledContainer(image)
    .withEntrypoint([...idleEntrypoint])
    .withWaitStrategy(Wait.forLogMessage(IDLE_READY))
    .withStartupTimeout(60_000);
}

/** Starts a privileged idle container from `image`, to exec commands in the image's userland. */
export async function startIdlePrivileged(image: string): Promise<StartedTestContainer> {
  return idleContainer(image).withPrivilegedMode().start();
}

export class ContainerExecError extends Error {
  constructor(
    readonly command: readonly string[],
    readonly exitCode: number,
    readonly output: string,
  ) {
    super(`\`${command.join(" ")}\` exited ${exitCode} in the container:\n${output.trim()}`);
    this.name = "ContainerExecError";
  }
}

/** Runs a command in the container, failing with its output unless it exits 0; returns stdout. */
export async function execOk(
  container: StartedTestContainer,
  command: readonly string[],
): Promise<string> {
  const result = await container.exec([...command]);
  if (result.exitCode !== 0) throw new ContainerExecError(command, result.exitCode, result.output);
  return result.stdout;
}
