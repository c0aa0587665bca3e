import type { DaemonConfig } from "../config/index.js";
import type { Log } from "../platform/index.js";

/** The part of the content store the janitor drives. */
export interface Sweepable {
  sweep(graceMs: number): Promise<object>;
}

/** Sweeps storage leftovers at start and then every intervalMs; one sweep at a time. */
export function startStorageJanitor(
  store: Sweepable,
  config: DaemonConfig["janitor"],
  log: Log,
): { stop(): void } {
  if (config.intervalMs === 0) return { stop: () => {} };
  let running = false;
  const sweep = () => {
    if (running) return;
    running = true;
    const started = Date.now();
    store
      .sweep(config.graceMs)
      .then(
        (r) => log("info", "storage janitor swept", { ...r, durationMs: Date.now() - started }),
        (err: unknown) => log("warn", "storage janitor failed; retrying next interval", { err }),
      )
      .finally(() => {
        running = false;
      });
  };
  sweep();
  const timer = setInterval(sweep, config.intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
