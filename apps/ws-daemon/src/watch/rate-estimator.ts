/** How far back the rate looks: long enough to smooth bursts, short enough to follow changes. */
const WINDOW_MS = 5_000;
/** Below this span a rate is noise (two reports from one burst). */
const MIN_SPAN_MS = 300;

/**
 * Bytes per second and time left of one phase, from its progress reports: the slope over the
 * reports of the last few seconds.
 */
export class RateEstimator {
  private samples: { at: number; bytes: number }[] = [];

  reset(): void {
    this.samples = [];
  }

  add(at: number, bytes: number): void {
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - (this.samples[1]?.at ?? at) >= WINDOW_MS) {
      this.samples.shift();
    }
  }

  /** 0 while unknown. */
  bytesPerSecond(): number {
    const first = this.samples[0];
    const last = this.samples.at(-1);
    if (!first || !last || last.at - first.at < MIN_SPAN_MS) return 0;
    return Math.max(0, ((last.bytes - first.bytes) * 1000) / (last.at - first.at));
  }

  /** Milliseconds until `total`, or undefined when the total or the rate is unknown. */
  etaMs(done: number, total: number): number | undefined {
    const rate = this.bytesPerSecond();
    if (total <= 0 || rate <= 0) return undefined;
    return Math.max(0, Math.round(((total - done) * 1000) / rate));
  }
}
