import { statusOf, toWorkspaceEvent, type WorkspaceEvent } from "@ws-daemon/api";
import type { CommandContext } from "./command.js";
import {
  lineDisplay,
  type ProgressDisplay,
  silentDisplay,
  terminalDisplay,
} from "./progress-display.js";

/** The display for progress shown alongside a command's result (on stderr). */
export function sideDisplay(ctx: CommandContext, id: string): ProgressDisplay {
  if (!ctx.progress || ctx.output === "json") return silentDisplay;
  return ctx.stderrIsTTY ? terminalDisplay(ctx.stderr, id) : lineDisplay(ctx.stderr, id);
}

export interface WatchOptions {
  follow: boolean;
  awaitCreation: boolean;
  signal: AbortSignal;
  /** Return true to end the watch after this event. */
  until?: (event: WorkspaceEvent) => boolean;
}

/** Relays WatchWorkspace to a display until it ends; rejects with the call's error. */
export async function relayWatch(
  ctx: CommandContext,
  id: string,
  display: ProgressDisplay,
  options: WatchOptions,
): Promise<WorkspaceEvent | undefined> {
  // Leaving a connect stream with `break` does not end the call; cancelling it does, and the
  // loop then ends with CANCELLED, which is ours and not an error.
  const stop = new AbortController();
  const stream = ctx
    .content()
    .watchWorkspace(
      { id, follow: options.follow, awaitCreation: options.awaitCreation },
      { signal: AbortSignal.any([options.signal, stop.signal]) },
    );
  let last: WorkspaceEvent | undefined;
  try {
    for await (const raw of stream) {
      if (stop.signal.aborted) continue;
      const event = toWorkspaceEvent(raw);
      if (!event) continue;
      last = event;
      display.event(event, raw);
      if (options.until?.(event)) stop.abort();
    }
  } catch (e) {
    if (!stop.signal.aborted) throw e;
  }
  return last;
}

/** Errors whose outcome a display already showed: not printed a second time. */
export const reportedErrors = new WeakSet<object>();

/** How long the watch may lag behind the call's answer before it is cut. */
const DRAIN_MS = 2_000;

/**
 * Runs `call` while watching the workspace, when `watch` is set: progress on stderr, ended by
 * the call's own outcome (`describe` makes the final line). The watch starts first (awaiting the
 * workspace's creation for an init) and is cancelled once the call has answered and the watch
 * saw that operation end, or after a short grace.
 */
export async function withWatch<T>(
  ctx: CommandContext,
  id: string,
  watch: boolean,
  call: (signal: AbortSignal) => Promise<T>,
  describe: (result: T) => string,
  operationName: string,
): Promise<T> {
  if (!watch) return call(ctx.signal);
  const display = sideDisplay(ctx, id);
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  let sawEnd: () => void = () => undefined;
  const ended = new Promise<void>((resolve) => {
    sawEnd = resolve;
  });
  const watching = relayWatch(ctx, id, display, {
    follow: true,
    awaitCreation: true,
    signal,
    until: (e) => {
      const done = e.type === "finished" && e.operationName === operationName;
      if (done) sawEnd();
      return done;
    },
  }).catch(() => undefined);
  // give the watch a moment to be registered before the operation starts
  await new Promise((r) => setTimeout(r, 50));
  try {
    const result = await call(ctx.signal);
    await Promise.race([ended, new Promise((r) => setTimeout(r, DRAIN_MS))]);
    display.end(true, describe(result));
    return result;
  } catch (e) {
    const status = statusOf(e);
    if (display !== silentDisplay) {
      display.end(false, `${id}: ${operationName} failed: ${status.codeName}: ${status.message}`);
      if (typeof e === "object" && e !== null) reportedErrors.add(e);
    }
    throw e;
  } finally {
    controller.abort();
    await watching;
  }
}
