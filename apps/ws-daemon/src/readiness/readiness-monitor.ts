import { DomainError, errorMessage, type Log, silentLog } from "../platform/index.js";
import type { RuntimeDiscovery } from "../runtime/index.js";
import { checkWritable, freeBytes } from "./node-checks.js";

/** What readiness consists of; each has a gauge and a log line when it flips. */
export const READINESS_CHECKS = ["runtime", "working-area-writable", "disk-space"] as const;
export type ReadinessCheck = (typeof READINESS_CHECKS)[number];

export interface ReadinessState {
  ready: boolean;
  /** The checks that failed at the last run, with why. */
  failures: Partial<Record<ReadinessCheck, string>>;
  /** Free bytes in the working area at the last run; undefined when it could not be read. */
  freeBytes: number | undefined;
}

export interface ReadinessOptions {
  workingArea: string;
  /** Less free space than this is not ready; 0 = no threshold. */
  minFreeBytes: number;
  intervalMs: number;
  runtime: Pick<RuntimeDiscovery, "checkReachable">;
  /** Bound of one run's checks (a hung runtime socket must not hang readiness). */
  checkTimeoutMs?: number;
  log?: Log;
  /** Called after every run, with whether anything changed since the previous one. */
  onResult?: (state: ReadinessState, changed: boolean) => void;
}

/** InitWorkspace refused because the node has too little room left for a workspace. */
export class InsufficientDiskSpaceError extends DomainError {
  override name = "InsufficientDiskSpaceError";
  constructor(message: string) {
    super("resource-exhausted", message);
  }
}

const formatGiB = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

/**
 * Whether this node can take work: the container runtime answers, the working area is
 * writable, and its filesystem has at least `minFreeBytes` free. Runs at start and then every
 * `intervalMs`; each change of a check is logged with its reason (a warning when it fails, info
 * when it recovers), so an operator sees why a node went NOT_SERVING.
 */
export class ReadinessMonitor {
  private current: ReadinessState = { ready: false, failures: {}, freeBytes: undefined };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<ReadinessState> | undefined;
  private readonly log: Log;

  constructor(private readonly options: ReadinessOptions) {
    this.log = options.log ?? silentLog;
  }

  get state(): ReadinessState {
    return this.current;
  }

  /** The first run, then one every interval until stop(). */
  async start(): Promise<ReadinessState> {
    const first = await this.check();
    this.timer = setInterval(() => {
      void this.check().catch((err: unknown) =>
        this.log("error", "readiness check failed to run", { err }),
      );
    }, this.options.intervalMs);
    this.timer.unref();
    return first;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Runs every check now (a run in progress is joined, not doubled). */
  check(): Promise<ReadinessState> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  /**
   * Whether a new workspace may start, by the working area's free space. Answers `undefined`
   * (admitted) without I/O when the last check found enough: an admitted InitWorkspace then
   * registers its workspace in the very turn it arrived, so a client's next call sees it. Only
   * a figure under the threshold (or none yet) is read again, in the returned promise, which
   * rejects when it is still short; a node that freed space takes work at once.
   */
  admitNewWorkspace(): Promise<void> | undefined {
    const { minFreeBytes } = this.options;
    if (minFreeBytes <= 0) return undefined;
    const known = this.current.freeBytes;
    if (known !== undefined && known >= minFreeBytes) return undefined;
    return this.recheckRoom();
  }

  private async recheckRoom(): Promise<void> {
    const { minFreeBytes, workingArea } = this.options;
    const free = await freeBytes(workingArea).catch(() => undefined);
    if (free !== undefined && free < minFreeBytes) {
      void this.check().catch(() => undefined);
      throw new InsufficientDiskSpaceError(
        `the working area has ${formatGiB(free)} free, less than the ${formatGiB(minFreeBytes)} a new workspace needs (health.minFreeBytes)`,
      );
    }
  }

  private async run(): Promise<ReadinessState> {
    const { workingArea, minFreeBytes, runtime } = this.options;
    const signal = AbortSignal.timeout(this.options.checkTimeoutMs ?? 5_000);
    const failures: Partial<Record<ReadinessCheck, string>> = {};
    const [reach, write, free] = await Promise.allSettled([
      runtime.checkReachable(signal),
      checkWritable(workingArea),
      freeBytes(workingArea),
    ]);
    if (reach.status === "rejected") failures.runtime = errorMessage(reach.reason);
    if (write.status === "rejected") {
      failures["working-area-writable"] =
        `cannot write to ${workingArea}: ${errorMessage(write.reason)}`;
    }
    const bytes = free.status === "fulfilled" ? free.value : undefined;
    if (free.status === "rejected") {
      failures["disk-space"] =
        `cannot read the free space of ${workingArea}: ${errorMessage(free.reason)}`;
    } else if (minFreeBytes > 0 && free.value < minFreeBytes) {
      failures["disk-space"] =
        `${formatGiB(free.value)} free in ${workingArea}, below the threshold of ${formatGiB(minFreeBytes)}`;
    }
    const next: ReadinessState = {
      ready: Object.keys(failures).length === 0,
      failures,
      freeBytes: bytes,
    };
    const changed = this.report(next);
    this.current = next;
    this.options.onResult?.(next, changed);
    return next;
  }

  /** Logs each check that flipped; true when readiness as a whole or any check changed. */
  private report(next: ReadinessState): boolean {
    const before = this.current;
    let changed = before.ready !== next.ready;
    for (const check of READINESS_CHECKS) {
      const was = before.failures[check];
      const now = next.failures[check];
      // Only a flip is news: a failing check's reason (e.g. the free bytes) moves every run.
      if ((was === undefined) === (now === undefined)) continue;
      changed = true;
      if (now !== undefined) this.log("warn", `not ready: ${now}`, { check, reason: now });
      else this.log("info", `${check} check passes again`, { check });
    }
    if (before.ready !== next.ready && next.ready) this.log("info", "ready: every check passes");
    return changed;
  }
}
