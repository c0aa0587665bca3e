import { setMaxListeners } from "node:events";
import { type ArchiveDeadline, ArchiveDeadlineError } from "../archive/index.js";
import type { Clock } from "../platform/index.js";

const GiB = 1024 * 1024 * 1024;

/**
 * The archive deadline (archive.deadlineBaseMs + archive.deadlineMsPerGib) for a restore of
 * `tarBytes`: a signal that aborts with ArchiveDeadlineError (DEADLINE_EXCEEDED) once it ran out,
 * or with `signal`'s reason. Call stop() when the restore settled.
 */
export function restoreDeadline(
  deadline: ArchiveDeadline | undefined,
  tarBytes: number,
  clock: Clock,
  signal: AbortSignal | undefined,
): { signal: AbortSignal; stop: () => void } {
  const timeout = new AbortController();
  const stopped = new AbortController();
  if (deadline) {
    const allowedMs = Math.round(deadline.baseMs + (deadline.msPerGiB * tarBytes) / GiB);
    clock.sleep(allowedMs, stopped.signal).then(
      () =>
        timeout.abort(
          new ArchiveDeadlineError(
            `restore abandoned after ${allowedMs} ms, its deadline for ${tarBytes} tar bytes (archive.deadlineBaseMs + archive.deadlineMsPerGib); the target is left empty`,
          ),
        ),
      () => {},
    );
  }
  const combined = signal ? AbortSignal.any([signal, timeout.signal]) : timeout.signal;
  // every read in flight (several ranged GETs, pack loads, the waits on them) listens on it:
  // more than Node's default of 10 is expected, not a leak
  setMaxListeners(64, combined);
  return { signal: combined, stop: () => stopped.abort() };
}
