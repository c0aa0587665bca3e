import type { Clock } from "../../src/platform/index.js";

/** A clock whose sleeps resolve at once and are recorded, so retry policies can be read off. */
export class RecordingClock implements Clock {
  readonly sleeps: number[] = [];
  private time = 0;

  now(): number {
    return this.time;
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw signal.reason;
    this.sleeps.push(ms);
    this.time += ms;
  }
}
