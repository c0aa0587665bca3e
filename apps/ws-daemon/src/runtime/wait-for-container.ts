import type { Clock } from "../platform/index.js";
import { currentCallSignal } from "./call-scope.js";
import { type WorkspaceContainer, WorkspaceContainerNotFound } from "./runtime-discovery.js";

export interface WaitForContainerOptions {
  /** Longest wait when the call sets no nearer deadline; 0 = one look only. */
  maxWaitMs: number;
  pollIntervalMs: number;
  clock: Clock;
  /** The caller's signal; default the current RPC's (see call-scope.ts). */
  signal?: AbortSignal | undefined;
}

/**
 * Upstream's in-workspace handlers first wait for the workspace's container (WaitForContainer)
 * until the call's deadline: workspacekit dials as soon as the socket exists, which may be before
 * the runtime reports the container. `look` is tried at once and then every `pollIntervalMs`
 * while it answers WorkspaceContainerNotFound; any other error ends the wait.
 */
export async function waitForContainer(
  look: () => Promise<WorkspaceContainer>,
  options: WaitForContainerOptions,
): Promise<WorkspaceContainer> {
  const signal = options.signal ?? currentCallSignal();
  const { clock } = options;
  const started = clock.now();
  for (let looks = 1; ; looks++) {
    try {
      return await look();
    } catch (err) {
      if (!(err instanceof WorkspaceContainerNotFound)) throw err;
      const remaining = started + options.maxWaitMs - clock.now();
      const giveUp = () =>
        looks > 1
          ? new WorkspaceContainerNotFound(`${err.message} (waited ${clock.now() - started} ms)`)
          : err;
      if (remaining <= 0 || signal?.aborted) throw giveUp();
      try {
        await clock.sleep(Math.min(options.pollIntervalMs, remaining), signal);
      } catch {
        throw giveUp();
      }
    }
  }
}
