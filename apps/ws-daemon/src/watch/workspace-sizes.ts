import { type Clock, measureTree } from "../platform/index.js";

/** How long a measured size is reused: listings in a loop must not walk every tree each time. */
export const DEFAULT_SIZE_TTL_MS = 5_000;

export interface MeasuredSize {
  bytes: number;
  measuredAt: number;
}

/**
 * The content size of workspaces for listings: apparent bytes of regular files, measured on
 * demand (best effort: a tree changing underneath is normal) and cached for a few seconds;
 * concurrent requests for one workspace share one walk.
 */
export class WorkspaceSizes {
  private readonly cache = new Map<string, MeasuredSize>();
  private readonly inflight = new Map<string, Promise<MeasuredSize>>();

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs = DEFAULT_SIZE_TTL_MS,
  ) {}

  async sizeOf(id: string, dir: string): Promise<MeasuredSize> {
    const cached = this.cache.get(id);
    if (cached && this.clock.now() - cached.measuredAt < this.ttlMs) return cached;
    const running = this.inflight.get(id);
    if (running) return running;
    const walk = measureTree(dir, { mode: "best-effort" })
      .then((m) => {
        const size = { bytes: m.regularFileBytes, measuredAt: this.clock.now() };
        this.cache.set(id, size);
        return size;
      })
      .finally(() => this.inflight.delete(id));
    this.inflight.set(id, walk);
    return walk;
  }

  forget(id: string): void {
    this.cache.delete(id);
  }
}
