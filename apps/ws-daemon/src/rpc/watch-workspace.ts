import type { MessageInitShape } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import type { WatchWorkspaceRequest, WatchWorkspaceResponseSchema } from "@ws-daemon/api";
import {
  ContentError,
  type WorkspaceContentManager,
  type WorkspaceRecord,
} from "../content/index.js";
import type { Clock } from "../platform/index.js";
import type { WatchEvent, WatchHub, WorkspaceSizes } from "../watch/index.js";
import { codeOfKind } from "./error-mapping.js";
import {
  operations,
  timestamp,
  toWireProgress,
  toWireSummary,
  wireState,
} from "./watch-conversion.js";

type Response = MessageInitShape<typeof WatchWorkspaceResponseSchema>;

export interface WatchDeps {
  manager: WorkspaceContentManager;
  hub: WatchHub;
  sizes: WorkspaceSizes;
  clock: Clock;
}

/**
 * WatchWorkspace: subscribe first, then describe the workspace in the same tick (so no event
 * falls between the description and the stream), then relay the watcher's queue. Ends after the
 * running operations have finished (follow: after the workspace is gone), or when the client
 * cancels; the queue's overflow ends it with RESOURCE_EXHAUSTED.
 */
export async function* watchWorkspace(
  deps: WatchDeps,
  req: WatchWorkspaceRequest,
  ctx: HandlerContext,
): AsyncGenerator<Response> {
  const { manager, hub } = deps;
  // validates the id (INVALID_ARGUMENT) before anything is registered
  let record = manager.get(req.id);
  if (!record && !req.awaitCreation) {
    throw new ContentError("not-found", `workspace ${req.id} is unknown`);
  }
  const queue = hub.subscribe(req.id);
  const stop = () => queue.close();
  ctx.signal.addEventListener("abort", stop, { once: true });
  try {
    while (!record) {
      if (!(await queue.next())) return;
      record = manager.get(req.id);
    }
    // everything queued so far is part of the snapshot taken in this tick
    queue.discardPending();
    const ops = hub.operations(req.id);
    const latest = hub.latestProgress(req.id);
    const at = deps.clock.now();
    let running = ops.length;
    const size = await deps.sizes
      .sizeOf(record.id, manager.contentDir(record.id))
      .catch(() => undefined);
    yield {
      event: {
        case: "snapshot",
        value: {
          workspace: toWireSummary(record, size, ops),
          ...(latest ? { progress: toWireProgress(latest) } : {}),
        },
      },
      time: timestamp(at),
    };
    let removed = false;
    for (;;) {
      if (running === 0 && (!req.follow || removed)) return;
      const event = await queue.next();
      if (!event) return;
      if (event.type === "started") running++;
      if (event.type === "finished") running = Math.max(0, running - 1);
      if (event.type === "state" && event.to === undefined) removed = true;
      yield toWireEvent(event, manager, req.id);
    }
  } finally {
    ctx.signal.removeEventListener("abort", stop);
    queue.close();
  }
}

function toWireEvent(event: WatchEvent, manager: WorkspaceContentManager, id: string): Response {
  const time = timestamp(event.at);
  switch (event.type) {
    case "state": {
      const failed = event.from === "setting-up" && event.to === "none";
      const record: WorkspaceRecord | undefined = failed ? manager.get(id) : undefined;
      return {
        event: {
          case: "stateChange",
          value: {
            from: wireState(event.from),
            to: wireState(event.to),
            removed: event.to === undefined,
            error: record?.initFailure?.message ?? "",
          },
        },
        time,
      };
    }
    case "started":
      return {
        event: { case: "operationStarted", value: { operation: operations[event.operation] } },
        time,
      };
    case "progress":
      return { event: { case: "progress", value: toWireProgress(event.progress) }, time };
    case "finished": {
      const { outcome } = event;
      return {
        event: {
          case: "operationFinished",
          value: {
            operation: operations[event.operation],
            code: outcome.ok ? 0 : codeOfKind[outcome.kind],
            message: outcome.ok ? "" : outcome.message,
            elapsedMs: BigInt(event.elapsedMs),
            url: outcome.ok ? (outcome.url ?? "") : "",
          },
        },
        time,
      };
    }
  }
}
