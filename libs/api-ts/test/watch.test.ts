/**
 * watchWorkspace: the stream as plain events, and leaving the loop early cancels the call on the
 * server (a plain `break` out of a connect stream would leave it open).
 */
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  createWorkspaceContentServiceClient,
  OperationPhase,
  WorkspaceContentService,
  WorkspaceContentState,
  type WorkspaceEvent,
  WorkspaceOperation,
  watchWorkspace,
} from "../src/index.js";

describe("watchWorkspace", () => {
  it("turns the stream into plain events with numbers, names and a fraction", async () => {
    const transport = createRouterTransport((router) =>
      router.service(WorkspaceContentService, {
        async *watchWorkspace(req) {
          expect(req).toMatchObject({ id: "ws-1", follow: false, awaitCreation: true });
          yield {
            time: timestampFromMs(1_700_000_000_000),
            event: { case: "snapshot", value: { workspace: { id: "ws-1" } } },
          };
          yield {
            event: { case: "operationStarted", value: { operation: WorkspaceOperation.INIT } },
          };
          yield {
            event: {
              case: "progress",
              value: {
                operation: WorkspaceOperation.INIT,
                phase: OperationPhase.RESTORING,
                bytesDone: 256n,
                bytesTotal: 1024n,
                etaMs: 1500n,
              },
            },
          };
          yield {
            event: {
              case: "stateChange",
              value: {
                from: WorkspaceContentState.SETTING_UP,
                to: WorkspaceContentState.AVAILABLE,
              },
            },
          };
          yield {
            event: {
              case: "operationFinished",
              value: { operation: WorkspaceOperation.INIT, code: Code.DataLoss, message: "gone" },
            },
          };
        },
      }),
    );
    const client = createWorkspaceContentServiceClient(transport);
    const events: WorkspaceEvent[] = [];
    for await (const e of watchWorkspace(client, "ws-1", { awaitCreation: true })) events.push(e);
    expect(events.map((e) => e.type)).toEqual([
      "snapshot",
      "started",
      "progress",
      "state",
      "finished",
    ]);
    expect(events[0]?.time?.getTime()).toBe(1_700_000_000_000);
    expect(events[1]).toMatchObject({ operationName: "init" });
    expect(events[2]).toMatchObject({
      progress: {
        phaseName: "restoring",
        bytesDone: 256,
        bytesTotal: 1024,
        fraction: 0.25,
        filesTotal: undefined,
        etaMs: 1500,
      },
    });
    expect(events[3]).toMatchObject({ from: WorkspaceContentState.SETTING_UP, removed: false });
    expect(events[4]).toMatchObject({ ok: false, code: Code.DataLoss, codeName: "DATA_LOSS" });
  });

  it("leaving the loop early cancels the call on the server", async () => {
    let cancelled: Promise<void> = Promise.resolve();
    const transport = createRouterTransport((router) =>
      router.service(WorkspaceContentService, {
        async *watchWorkspace(_req, ctx) {
          cancelled = new Promise((resolve) =>
            ctx.signal.addEventListener("abort", () => resolve()),
          );
          for (;;) {
            yield { event: { case: "progress", value: { phase: OperationPhase.CLONING } } };
            await new Promise((r) => setTimeout(r, 10));
            if (ctx.signal.aborted) throw new ConnectError("cancelled", Code.Canceled);
          }
        },
      }),
    );
    const client = createWorkspaceContentServiceClient(transport);
    let seen = 0;
    for await (const _ of watchWorkspace(client, "ws-1", { follow: true })) {
      if (++seen === 3) break;
    }
    await cancelled;
    expect(seen).toBe(3);
  });
});
