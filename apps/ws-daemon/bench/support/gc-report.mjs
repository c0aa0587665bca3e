/**
 * Preloaded into each server of `npm run bench:rpc` (node --import): SIGUSR2 starts counting the
 * process's garbage collections, the next SIGUSR2 writes what they did to BENCH_RPC_GC_FILE.
 * Plain JavaScript, so it loads into the bundled daemon as it ships.
 */
import { renameSync, writeFileSync } from "node:fs";
import { GCProfiler } from "node:v8";

const file = process.env.BENCH_RPC_GC_FILE;
let profiler;

/** Old-generation bytes (old and large-object space) in a GC's heap statistics. */
const oldBytes = (heap) =>
  heap.heapSpaceStatistics
    .filter((s) => s.spaceName === "old_space" || s.spaceName === "large_object_space")
    .reduce((n, s) => n + s.spaceUsedSize, 0);

if (file) {
  process.on("SIGUSR2", () => {
    if (!profiler) {
      profiler = new GCProfiler();
      profiler.start();
      return;
    }
    const { statistics } = profiler.stop();
    profiler = undefined;
    const report = { scavenges: 0, promotedBytes: 0, markCompacts: 0, pauseMs: 0 };
    for (const gc of statistics) {
      // cost: the collection's pause on the main thread, in microseconds
      report.pauseMs += gc.cost / 1000;
      if (gc.gcType === "Scavenge") {
        report.scavenges++;
        // what a scavenge adds to the old generation is what it promoted
        report.promotedBytes += Math.max(0, oldBytes(gc.afterGC) - oldBytes(gc.beforeGC));
      } else if (gc.gcType === "MarkSweepCompact") report.markCompacts++;
    }
    // written whole, then renamed: the bench never reads half a report
    writeFileSync(`${file}.tmp`, JSON.stringify(report));
    renameSync(`${file}.tmp`, file);
  });
}
