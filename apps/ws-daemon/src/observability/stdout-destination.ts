import { pino } from "pino";

/** Lines wait at most this long for others to share their write. */
const FLUSH_INTERVAL_MS = 100;

/**
 * Where the daemon's log goes: a terminal gets process.stdout itself (so "auto" can pick the
 * readable format); a pipe or file gets an asynchronous writer on fd 1 that collects lines up to
 * 4 KiB or 100 ms per write. A synchronous write per line cost the node API about a sixth of
 * its CPU per unary call under load. Whatever is still queued is written before the process
 * exits.
 */
export function stdoutDestination(): NodeJS.WritableStream {
  if (process.stdout.isTTY) return process.stdout;
  const destination = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // a reader that went away (EPIPE) ends the log, not the daemon
  destination.on("error", () => {});
  setInterval(() => {
    // a write under way makes this a no-op; the lines go with the next one
    try {
      destination.flush();
    } catch {
      // not open yet, or already ended: the next tick or the exit flush writes it
    }
  }, FLUSH_INTERVAL_MS).unref();
  process.on("exit", () => {
    try {
      destination.flushSync();
    } catch {
      // nothing queued, or stdout is gone: nothing more to save
    }
  });
  return destination as unknown as NodeJS.WritableStream;
}
