import type { DaemonConfig } from "../config/index.js";
import type { DaemonMetrics } from "../observability/index.js";
import type { Log } from "../platform/index.js";
import { READINESS_CHECKS, ReadinessMonitor } from "../readiness/index.js";
import { applyReadiness, type HealthBoard } from "../rpc/index.js";
import type { RuntimeDiscovery } from "../runtime/index.js";

export interface ReadinessWiring {
  readonly monitor: ReadinessMonitor;
  /** Stops the checks; a run still in flight no longer touches the health board. */
  stop(): void;
}

/**
 * Connects the readiness checks to what reports them: the health board (the server and the
 * node API's services go NOT_SERVING while the node cannot take work) and the metrics.
 * Resolves after the first run, so the first health answer already means something.
 */
export async function startReadiness(options: {
  config: DaemonConfig["health"];
  workingArea: string;
  runtime: RuntimeDiscovery;
  board: HealthBoard;
  /** Health names of the services that follow readiness (besides the server's ""). */
  services: readonly string[];
  metrics: DaemonMetrics;
  log: Log;
}): Promise<ReadinessWiring> {
  let stopped = false;
  const { metrics } = options;
  const monitor = new ReadinessMonitor({
    workingArea: options.workingArea,
    minFreeBytes: options.config.minFreeBytes,
    intervalMs: options.config.checkIntervalMs,
    runtime: options.runtime,
    log: options.log,
    onResult: (state) => {
      if (stopped) return;
      applyReadiness(options.board, options.services, state.ready);
      metrics.ready.set(state.ready ? 1 : 0);
      for (const check of READINESS_CHECKS) {
        metrics.readinessCheck.set({ check }, state.failures[check] === undefined ? 1 : 0);
      }
      if (state.freeBytes !== undefined) metrics.workingAreaFreeBytes.set(state.freeBytes);
    },
  });
  await monitor.start();
  return {
    monitor,
    stop() {
      stopped = true;
      monitor.stop();
    },
  };
}
