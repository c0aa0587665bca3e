import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** Every metric the daemon exports, on one registry (no global state, so tests can make many). */
export class DaemonMetrics {
  readonly registry = new Registry();

  /**
   * Calls counted since wsd_rpc_total was last read, as plain numbers: a labelled inc() hashes
   * and checks its labels every time, a visible share of a small unary call's cost.
   */
  private readonly rpcCounts = new Map<
    string,
    { labels: { method: string; code: string }; n: number }
  >();

  readonly rpcTotal = new Counter({
    name: "wsd_rpc_total",
    help: "RPCs handled, by full method name and gRPC status code name",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
    collect: () => {
      for (const pending of this.rpcCounts.values()) {
        if (pending.n === 0) continue;
        this.rpcTotal.inc(pending.labels, pending.n);
        pending.n = 0;
      }
    },
  });

  /** Counts one finished RPC in wsd_rpc_total. */
  countRpc(method: string, code: string): void {
    const key = `${method} ${code}`;
    const pending = this.rpcCounts.get(key);
    if (pending) pending.n++;
    else this.rpcCounts.set(key, { labels: { method, code }, n: 1 });
  }

  readonly rpcDuration = new Histogram({
    name: "wsd_rpc_duration_seconds",
    help: "RPC latency by method",
    labelNames: ["method"] as const,
    buckets: [0.005, 0.02, 0.1, 0.5, 1, 5, 15, 60, 300],
    registers: [this.registry],
  });

  readonly limitRefusals = new Counter({
    name: "wsd_transport_limit_refusals_total",
    help: "Connections, streams and calls refused or closed by a transport limit (config key limits.<limit>), by API",
    labelNames: ["api", "limit"] as const,
    registers: [this.registry],
  });

  readonly initDuration = new Histogram({
    name: "wsd_initializer_duration_seconds",
    help: "Duration of content initializers by kind",
    labelNames: ["kind"] as const,
    buckets: [0.05, 0.25, 1, 5, 15, 60, 300, 1200],
    registers: [this.registry],
  });

  readonly initBytes = new Counter({
    name: "wsd_initializer_bytes_total",
    help: "Bytes placed into workspaces by initializer kind",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly initOutcome = new Counter({
    name: "wsd_init_total",
    help: "Workspace initializations by outcome (ok or the error kind)",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });

  readonly workspaces = new Gauge({
    name: "wsd_workspaces",
    help: "Workspaces known to this daemon by content state",
    labelNames: ["state"] as const,
    registers: [this.registry],
  });

  readonly queueWait = new Histogram({
    name: "wsd_queue_wait_seconds",
    help: "Time operations waited for a free slot (init, backup, snapshot)",
    labelNames: ["operation"] as const,
    buckets: [0.001, 0.01, 0.1, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });

  readonly archiveDuration = new Histogram({
    name: "wsd_archive_duration_seconds",
    help: "Backup and snapshot duration by operation and outcome",
    labelNames: ["operation", "outcome"] as const,
    buckets: [0.1, 1, 5, 15, 60, 300, 1200],
    registers: [this.registry],
  });

  readonly archiveBytes = new Counter({
    name: "wsd_archive_bytes_total",
    help: "Compressed bytes uploaded by operation",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });

  readonly chunkedBytes = new Counter({
    name: "wsd_chunked_archive_bytes_total",
    help: "Chunked backups and snapshots: tar bytes scanned, skipped (unchanged files not read), bytes of new chunks, bytes uploaded",
    labelNames: ["operation", "kind"] as const,
    registers: [this.registry],
  });

  readonly dedupRatio = new Gauge({
    name: "wsd_chunked_dedup_ratio",
    help: "Last chunked archive: tar bytes (scanned and skipped) per byte of new chunks (1 = nothing reused)",
    labelNames: ["operation"] as const,
    registers: [this.registry],
  });

  readonly repacked = new Counter({
    name: "wsd_chunked_repacked_total",
    help: "Chunked backups and snapshots: sparse packs left by storing their live chunks again (kind packs), and the bytes stored again (kind bytes)",
    labelNames: ["kind"] as const,
    registers: [this.registry],
  });

  readonly ready = new Gauge({
    name: "wsd_ready",
    help: "1 while every readiness check passes (health SERVING), else 0",
    registers: [this.registry],
  });

  readonly readinessCheck = new Gauge({
    name: "wsd_readiness_check_ok",
    help: "1 when the readiness check (runtime, working-area-writable, disk-space) passed at its last run, else 0",
    labelNames: ["check"] as const,
    registers: [this.registry],
  });

  readonly workingAreaFreeBytes = new Gauge({
    name: "wsd_working_area_free_bytes",
    help: "Bytes free in the working area's filesystem at the last readiness check",
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: "wsd_" });
  }

  /** One published chunked backup or snapshot: what it read, what was new, what it uploaded. */
  recordChunkedArchive(
    operation: "backup" | "snapshot",
    stats: {
      scannedBytes: number;
      skippedBytes?: number;
      newBytes: number;
      uploadedBytes: number;
      repackedBytes?: number;
      repackedPacks?: number;
    },
  ): void {
    this.repacked.inc({ kind: "packs" }, stats.repackedPacks ?? 0);
    this.repacked.inc({ kind: "bytes" }, stats.repackedBytes ?? 0);
    this.chunkedBytes.inc({ operation, kind: "scanned" }, stats.scannedBytes);
    const skipped = stats.skippedBytes ?? 0;
    this.chunkedBytes.inc({ operation, kind: "skipped" }, skipped);
    this.chunkedBytes.inc({ operation, kind: "new" }, stats.newBytes);
    this.chunkedBytes.inc({ operation, kind: "uploaded" }, stats.uploadedBytes);
    const tarBytes = stats.scannedBytes + skipped;
    this.dedupRatio.set({ operation }, tarBytes / Math.max(1, stats.newBytes));
  }
}
