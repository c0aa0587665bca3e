import type { ContentHooks } from "../content/index.js";
import type { DaemonMetrics, Logger } from "../observability/index.js";

/** Connects the content module's hooks to logs and metrics. */
export function createContentHooks(logger: Logger, metrics: DaemonMetrics): ContentHooks {
  const counts = new Map<string, number>();
  const move = (state: string | undefined, delta: number) => {
    if (state === undefined) return;
    counts.set(state, (counts.get(state) ?? 0) + delta);
    metrics.workspaces.set({ state }, counts.get(state) ?? 0);
  };
  return {
    log: (level, message, fields) => logger[level]({ ...fields, component: "content" }, message),
    onStateChange: (_id, from, to) => {
      move(from, -1);
      move(to, +1);
    },
    onInitializerFinished: (_id, stats) => {
      metrics.initDuration.observe({ kind: stats.kind }, stats.durationMs / 1000);
      metrics.initBytes.inc({ kind: stats.kind }, stats.bytes);
    },
    onInitFinished: (_id, outcome) =>
      metrics.initOutcome.inc({ outcome: outcome.ok ? "ok" : outcome.kind }),
    onInitQueueWait: (_id, waitedMs) =>
      metrics.queueWait.observe({ operation: "init" }, waitedMs / 1000),
    onArchiveQueueWait: (operation, waitedMs) =>
      metrics.queueWait.observe({ operation }, waitedMs / 1000),
    onArchiveFinished: (operation, outcome) => {
      metrics.archiveDuration.observe(
        { operation, outcome: outcome.ok ? "ok" : outcome.kind },
        outcome.durationMs / 1000,
      );
      if (outcome.ok) metrics.archiveBytes.inc({ operation }, outcome.bytes);
    },
  };
}
