import type { RunningDaemon } from "./daemon-container.js";

type Step = () => unknown;

/**
 * Runs every cleanup step even when earlier ones fail (a stop that throws must not leave the
 * network, moto or the working area behind), then reports all failures at once.
 */
export async function cleanUp(...steps: Step[]): Promise<void> {
  const failures: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (e) {
      failures.push(e);
    }
  }
  if (failures.length === 1) throw failures[0];
  if (failures.length > 1) throw new AggregateError(failures, "several cleanup steps failed");
}

/**
 * Disposes the workspaces a test made, ignoring NOT_FOUND and the like: the content lives in
 * the working area, which is removed anyway; disposing first takes down sockets and mounts.
 */
export async function disposeQuietly(daemon: RunningDaemon | undefined, ids: readonly string[]) {
  if (!daemon) return;
  const { content } = daemon.clients();
  for (const id of ids) await content.disposeWorkspace({ id }).catch(() => undefined);
}
