/**
 * Streaming stubs of server-streaming methods: responses spaced in time, and a live stream the
 * test feeds by hand while the client reads (how WatchWorkspace is tested from the outside).
 */
import { Code, createDaemonClients, OperationPhase, statusOf } from "@ws-daemon/api";
import { describe, expect, it } from "vitest";
import { createMockTransport, createWorkspaceContentServiceMock } from "../src/index.js";

const progress = (bytesDone: bigint) => ({
  event: { case: "progress" as const, value: { phase: OperationPhase.CLONING, bytesDone } },
});

describe("server-streaming stubs", () => {
  it("returns(list, { intervalMs }) spaces the responses", async () => {
    const mock = createWorkspaceContentServiceMock();
    mock.watchWorkspace.returns([progress(1n), progress(2n), progress(3n)], { intervalMs: 50 });
    const { content } = createDaemonClients(createMockTransport([mock]));
    const started = performance.now();
    const seen: bigint[] = [];
    for await (const e of content.watchWorkspace({ id: "ws-1" })) {
      if (e.event.case === "progress") seen.push(e.event.value.bytesDone);
    }
    expect(seen).toEqual([1n, 2n, 3n]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    expect(mock.watchWorkspace.calls[0]?.request?.id).toBe("ws-1");
  });

  it("live() lets the test send while the client reads, then end or fail the stream", async () => {
    const mock = createWorkspaceContentServiceMock();
    const first = mock.watchWorkspace.live();
    const second = mock.watchWorkspace.live();
    const { content } = createDaemonClients(createMockTransport([mock]));

    const iterator = content.watchWorkspace({ id: "ws-1", follow: true })[Symbol.asyncIterator]();
    const pending = iterator.next();
    const call = await first.opened;
    expect(call.request?.follow).toBe(true);
    first.send(progress(10n));
    expect((await pending).value?.event.value).toMatchObject({ bytesDone: 10n });
    first.send(progress(20n));
    first.end();
    expect((await iterator.next()).value?.event.value).toMatchObject({ bytesDone: 20n });
    expect((await iterator.next()).done).toBe(true);
    await first.closed;

    second.fail(Code.ResourceExhausted, "too slow");
    const error = await (async () => {
      for await (const _ of content.watchWorkspace({ id: "ws-2" })) {
        // nothing arrives before the failure
      }
    })().catch((e: unknown) => e);
    expect(statusOf(error)).toMatchObject({ codeName: "RESOURCE_EXHAUSTED", message: "too slow" });
    // the standing behaviour afterwards: one default message
    let count = 0;
    for await (const _ of content.watchWorkspace({ id: "ws-3" })) count++;
    expect(count).toBe(1);
  });

  it("a live stream closes when the client cancels", async () => {
    const mock = createWorkspaceContentServiceMock();
    const live = mock.watchWorkspace.live();
    const { content } = createDaemonClients(createMockTransport([mock]));
    const controller = new AbortController();
    const reading = (async () => {
      for await (const _ of content.watchWorkspace({ id: "ws-1" }, { signal: controller.signal })) {
        // reads until cancelled
      }
    })().catch((e: unknown) => statusOf(e).codeName);
    await live.opened;
    controller.abort();
    await live.closed;
    expect(await reading).toBe("CANCELLED");
  });
});
