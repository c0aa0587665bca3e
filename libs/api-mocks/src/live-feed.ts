import type { DescMessage } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import type { MockCall } from "./service-mock.js";

export type LiveItem = { value: unknown } | { end: true } | { error: ConnectError };

/** The runtime side of a LiveStream: what the test sent, waiting for the handler to take it. */
export class LiveFeed {
  private readonly items: LiveItem[] = [];
  private wake: (() => void) | undefined;
  private markOpened: (call: MockCall<DescMessage>) => void = () => undefined;
  private markClosed: () => void = () => undefined;
  readonly opened = new Promise<MockCall<DescMessage>>((resolve) => {
    this.markOpened = resolve;
  });
  readonly closed = new Promise<void>((resolve) => {
    this.markClosed = resolve;
  });

  push(item: LiveItem): void {
    this.items.push(item);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  async *serve(call: MockCall<DescMessage>, signal: AbortSignal): AsyncGenerator<unknown> {
    this.markOpened(call);
    const onAbort = () => this.push({ end: true });
    signal.addEventListener("abort", onAbort, { once: true });
    try {
      for (;;) {
        const item = this.items.shift();
        if (!item) {
          await new Promise<void>((resolve) => {
            this.wake = resolve;
          });
          continue;
        }
        if ("end" in item) return;
        if ("error" in item) throw item.error;
        yield item.value;
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      this.markClosed();
    }
  }
}
