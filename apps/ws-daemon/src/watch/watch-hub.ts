import type {
  ContentHooks,
  OperationKind,
  OperationOutcome,
  OperationProgressReport,
  WorkspaceState,
} from "../content/index.js";
import type { Clock } from "../platform/index.js";
import { RateEstimator } from "./rate-estimator.js";
import type { ProgressView, WatchEvent } from "./watch-event.js";
import { WatcherQueue } from "./watcher-queue.js";

interface RunningOperation {
  operation: OperationKind;
  startedAt: number;
  rate: RateEstimator;
  phase?: string;
  latest?: ProgressView;
  /** When the latest progress (reported or repeated) went out. */
  publishedAt?: number;
}

/**
 * A watcher hears of a running operation at least this often: when the work itself reports
 * nothing for a while (a worker thread blocked on a slow disk, a long download stalled), the
 * latest figures go out again with the rate and time left recomputed, so a watcher can tell a
 * slow operation from a lost stream. The watch API promises an event at least every 500 ms.
 */
export const PROGRESS_HEARTBEAT_MS = 250;

/** The hooks of the content module the hub listens to (merged into the daemon's hooks). */
export type WatchHooks = Required<
  Pick<
    ContentHooks,
    "onStateChange" | "onOperationStarted" | "onOperationProgress" | "onOperationFinished"
  >
>;

/**
 * Fans the content module's state changes and operation reports out to the watchers of each
 * workspace, and remembers what runs now (for the first message of a watch and for listings).
 * Everything happens synchronously inside the hooks: an operation never waits for a watcher,
 * each watcher's own queue absorbs the difference (watcher-queue.ts).
 */
export class WatchHub {
  private readonly watchers = new Map<string, Set<WatcherQueue>>();
  private readonly running = new Map<string, RunningOperation[]>();
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    private readonly clock: Clock,
    private readonly watcherLimit?: number,
    private readonly heartbeatMs = PROGRESS_HEARTBEAT_MS,
  ) {}

  /** A new watcher of `id` (known or not yet); it unregisters itself when closed. */
  subscribe(id: string): WatcherQueue {
    const queue = new WatcherQueue(this.watcherLimit);
    const set = this.watchers.get(id) ?? new Set<WatcherQueue>();
    set.add(queue);
    this.watchers.set(id, set);
    queue.onClose(() => {
      set.delete(queue);
      if (set.size === 0 && this.watchers.get(id) === set) this.watchers.delete(id);
    });
    return queue;
  }

  /** Ends every watch (daemon shutdown: open streams must not hold the server's close). */
  closeAll(): void {
    for (const set of [...this.watchers.values()]) for (const queue of [...set]) queue.close();
    this.stopHeartbeat();
  }

  watcherCount(id: string): number {
    return this.watchers.get(id)?.size ?? 0;
  }

  /** Operations accepted and not finished, oldest first. */
  operations(id: string): OperationKind[] {
    return (this.running.get(id) ?? []).map((r) => r.operation);
  }

  /** The latest progress of the newest running operation that reported any. */
  latestProgress(id: string): ProgressView | undefined {
    const withProgress = (this.running.get(id) ?? []).filter((r) => r.latest);
    return withProgress.at(-1)?.latest;
  }

  readonly hooks: WatchHooks = {
    onStateChange: (id, from, to) => this.stateChanged(id, from, to),
    onOperationStarted: (id, operation) => this.started(id, operation),
    onOperationProgress: (id, report) => this.progress(id, report),
    onOperationFinished: (id, operation, outcome) => this.finished(id, operation, outcome),
  };

  private stateChanged(
    id: string,
    from: WorkspaceState | undefined,
    to: WorkspaceState | undefined,
  ): void {
    this.publish(id, { type: "state", at: this.clock.now(), from, to });
  }

  private started(id: string, operation: OperationKind): void {
    const list = this.running.get(id) ?? [];
    list.push({ operation, startedAt: this.clock.now(), rate: new RateEstimator() });
    this.running.set(id, list);
    this.publish(id, { type: "started", at: this.clock.now(), operation });
    this.startHeartbeat();
  }

  private progress(id: string, report: OperationProgressReport): void {
    const op = this.find(id, report.operation);
    if (!op) return;
    if (op.phase !== report.phase) {
      op.phase = report.phase;
      op.rate.reset();
    }
    this.publishProgress(id, op, report);
  }

  private publishProgress(id: string, op: RunningOperation, report: OperationProgressReport) {
    const at = this.clock.now();
    op.rate.add(at, report.bytesDone);
    const eta = op.rate.etaMs(report.bytesDone, report.bytesTotal);
    const view: ProgressView = {
      ...report,
      bytesPerSecond: op.rate.bytesPerSecond(),
      elapsedMs: at - op.startedAt,
      ...(eta !== undefined ? { etaMs: eta } : {}),
    };
    op.latest = view;
    op.publishedAt = at;
    this.publish(id, { type: "progress", at, progress: view });
  }

  /** Repeats the latest progress of operations that were quiet for a heartbeat, if watched. */
  private beat(): void {
    const now = this.clock.now();
    for (const [id, list] of this.running) {
      if (!this.watchers.has(id)) continue;
      for (const op of list) {
        if (!op.latest || now - (op.publishedAt ?? 0) < this.heartbeatMs) continue;
        const { bytesPerSecond: _rate, elapsedMs: _elapsed, etaMs: _eta, ...report } = op.latest;
        this.publishProgress(id, op, report);
      }
    }
  }

  private startHeartbeat(): void {
    if (this.heartbeat || this.heartbeatMs <= 0) return;
    // half the period: a quiet operation is repeated between 1 and 1.5 heartbeats after its last
    this.heartbeat = setInterval(() => this.beat(), Math.max(1, this.heartbeatMs / 2));
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (!this.heartbeat) return;
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  private finished(id: string, operation: OperationKind, outcome: OperationOutcome): void {
    const list = this.running.get(id) ?? [];
    const op = this.find(id, operation);
    const at = this.clock.now();
    if (op) list.splice(list.indexOf(op), 1);
    if (list.length === 0) this.running.delete(id);
    if (this.running.size === 0) this.stopHeartbeat();
    const elapsedMs = op ? at - op.startedAt : 0;
    this.publish(id, { type: "finished", at, operation, outcome, elapsedMs });
  }

  /** The oldest running operation of that kind (two snapshots may be queued at once). */
  private find(id: string, operation: OperationKind): RunningOperation | undefined {
    return this.running.get(id)?.find((r) => r.operation === operation);
  }

  private publish(id: string, event: WatchEvent): void {
    for (const queue of this.watchers.get(id) ?? []) queue.push(event);
  }
}
