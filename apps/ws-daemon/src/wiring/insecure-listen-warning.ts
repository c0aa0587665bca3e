import { type ListenSettings, servesUnauthenticatedOffLoopback } from "../config/index.js";
import type { Clock, Log } from "../platform/index.js";

export const INSECURE_WARNING_INTERVAL_MS = 60 * 60 * 1000;

/**
 * With `listen.insecure`, anyone who reaches the node API's port is the trusted caller: said at
 * start and then every hour, so it cannot go unnoticed in the logs. The hours are the clock's,
 * so a test can advance them.
 */
export function warnWhileInsecure(
  config: ListenSettings,
  address: string,
  clock: Clock,
  log: Log,
): { stop(): void } {
  if (!servesUnauthenticatedOffLoopback(config)) return { stop: () => {} };
  const stopped = new AbortController();
  const warn = () =>
    log(
      "warn",
      "listen.insecure: the node API is served off loopback without mutual TLS; anyone who reaches it can create, read, back up and delete every workspace",
      { address, host: config.listen.host },
    );
  warn();
  void (async () => {
    while (!stopped.signal.aborted) {
      try {
        await clock.sleep(INSECURE_WARNING_INTERVAL_MS, stopped.signal);
      } catch {
        return; // stopped
      }
      warn();
    }
  })();
  return { stop: () => stopped.abort() };
}
