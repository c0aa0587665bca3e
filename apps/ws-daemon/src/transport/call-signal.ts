/**
 * A call's abort signal, made only when someone asks for it. Creating an AbortSignal costs
 * about as much as the rest of a small unary call's own work, and most handlers never look at
 * it; an abort that comes first is remembered and the signal starts out aborted.
 */
export class CallSignal {
  private controller: AbortController | undefined;
  private abortedWith: { reason: unknown } | undefined;

  /** `onCreate` runs when the signal is first asked for (to start watching what aborts it). */
  constructor(private readonly onCreate?: () => void) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith) this.controller.abort(this.abortedWith.reason);
      this.onCreate?.();
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  abort(reason: unknown): void {
    if (this.abortedWith) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
  }
}
