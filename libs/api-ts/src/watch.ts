import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Code } from "@connectrpc/connect";
import { codeName } from "./errors.js";
import type { WorkspaceContentServiceClient } from "./gen/wsdaemon/daemon_client.js";
import {
  OperationPhase,
  type OperationProgress,
  type WatchWorkspaceResponse,
  WorkspaceContentState,
  WorkspaceOperation,
  type WorkspaceSummary,
  WorkspaceSummarySchema,
} from "./gen/wsdaemon/daemon_pb.js";

/** An operation's progress with plain numbers and names, ready to print. */
export interface WorkspaceProgress {
  operation: WorkspaceOperation;
  /** "init", "snapshot", "backup" or "dispose". */
  operationName: string;
  phase: OperationPhase;
  /** "queued", "cloning", "restoring", "archiving", "git-status", ... */
  phaseName: string;
  /** Init only: the initializer running, e.g. "git" or "composite[1] backup". */
  initializer: string;
  detail: string;
  bytesDone: number;
  /** undefined when the phase has no known total (a clone). */
  bytesTotal: number | undefined;
  filesDone: number;
  filesTotal: number | undefined;
  /** Done share from 0 to 1, by bytes (or files when only they have a total). */
  fraction: number | undefined;
  /** 0 while unknown. */
  bytesPerSecond: number;
  etaMs: number | undefined;
  elapsedMs: number;
}

/** One event of `watchWorkspace`; `time` is when the daemon produced it. */
export type WorkspaceEvent = { time: Date | undefined } & (
  | { type: "snapshot"; workspace: WorkspaceSummary; progress: WorkspaceProgress | undefined }
  | {
      type: "state";
      from: WorkspaceContentState;
      to: WorkspaceContentState;
      /** The workspace is gone (disposed). */
      removed: boolean;
      /** Why an init failed, when `to` is NONE after SETTING_UP. */
      error: string;
    }
  | { type: "started"; operation: WorkspaceOperation; operationName: string }
  | { type: "progress"; progress: WorkspaceProgress }
  | {
      type: "finished";
      operation: WorkspaceOperation;
      operationName: string;
      ok: boolean;
      /** The outcome's status code; undefined for OK. */
      code: Code | undefined;
      /** "OK", "NOT_FOUND", ... */
      codeName: string;
      message: string;
      elapsedMs: number;
      /** Snapshots and backups: where the archive went. */
      url: string;
    }
);

export interface WatchWorkspaceOptions {
  /** Keep watching across operations until the workspace is disposed. */
  follow?: boolean | undefined;
  /** Wait for a workspace that does not exist yet (e.g. an init sent at the same time). */
  awaitCreation?: boolean | undefined;
  /** Ends the watch; the loop then ends with a CANCELLED error. */
  signal?: AbortSignal | undefined;
}

const lowerName = (name: string | undefined): string =>
  (name ?? "unspecified").toLowerCase().replaceAll("_", "-");

/** "restoring" for OperationPhase.RESTORING. */
export const phaseName = (phase: OperationPhase): string => lowerName(OperationPhase[phase]);
/** "init" for WorkspaceOperation.INIT. */
export const operationName = (operation: WorkspaceOperation): string =>
  lowerName(WorkspaceOperation[operation]);
/** "available" for WorkspaceContentState.AVAILABLE. */
export const stateName = (state: WorkspaceContentState): string =>
  lowerName(WorkspaceContentState[state]);

/** The wire's progress message as plain numbers (int64 as number: byte counts fit). */
export function toWorkspaceProgress(p: OperationProgress): WorkspaceProgress {
  const bytesTotal = p.bytesTotal > 0n ? Number(p.bytesTotal) : undefined;
  const filesTotal = p.filesTotal > 0n ? Number(p.filesTotal) : undefined;
  const bytesDone = Number(p.bytesDone);
  const filesDone = Number(p.filesDone);
  const fraction =
    bytesTotal !== undefined
      ? Math.min(1, bytesDone / bytesTotal)
      : filesTotal !== undefined
        ? Math.min(1, filesDone / filesTotal)
        : undefined;
  return {
    operation: p.operation,
    operationName: operationName(p.operation),
    phase: p.phase,
    phaseName: phaseName(p.phase),
    initializer: p.initializer,
    detail: p.detail,
    bytesDone,
    bytesTotal,
    filesDone,
    filesTotal,
    fraction,
    bytesPerSecond: p.bytesPerSecond,
    etaMs: p.etaMs === undefined ? undefined : Number(p.etaMs),
    elapsedMs: Number(p.elapsedMs),
  };
}

/** One response of WatchWorkspace as a WorkspaceEvent; undefined for an event this SDK does not know. */
export function toWorkspaceEvent(r: WatchWorkspaceResponse): WorkspaceEvent | undefined {
  const time = r.time ? new Date(timestampMs(r.time)) : undefined;
  const e = r.event;
  switch (e.case) {
    case "snapshot":
      return {
        time,
        type: "snapshot",
        workspace: e.value.workspace ?? create(WorkspaceSummarySchema),
        progress: e.value.progress ? toWorkspaceProgress(e.value.progress) : undefined,
      };
    case "stateChange":
      return {
        time,
        type: "state",
        from: e.value.from,
        to: e.value.to,
        removed: e.value.removed,
        error: e.value.error,
      };
    case "operationStarted":
      return {
        time,
        type: "started",
        operation: e.value.operation,
        operationName: operationName(e.value.operation),
      };
    case "progress":
      return { time, type: "progress", progress: toWorkspaceProgress(e.value) };
    case "operationFinished":
      return {
        time,
        type: "finished",
        operation: e.value.operation,
        operationName: operationName(e.value.operation),
        ok: e.value.code === 0,
        code: e.value.code === 0 ? undefined : (e.value.code as Code),
        codeName: e.value.code === 0 ? "OK" : codeName(e.value.code as Code),
        message: e.value.message,
        elapsedMs: Number(e.value.elapsedMs),
        url: e.value.url,
      };
    default:
      return undefined;
  }
}

/**
 * Watches a workspace: its state changes and the progress of what runs on it, as an async
 * iterable of plain events. The loop ends when the running operation has finished (or at once
 * after the first event when none runs), with `follow` when the workspace is gone. Leaving the
 * loop early (`break`, `return`, an exception) cancels the watch on the daemon.
 */
export async function* watchWorkspace(
  client: WorkspaceContentServiceClient,
  id: string,
  options: WatchWorkspaceOptions = {},
): AsyncGenerator<WorkspaceEvent, void, undefined> {
  // Ending a stream's iteration does not reset the HTTP/2 stream: the call needs its own signal.
  const controller = new AbortController();
  const signal = options.signal
    ? AbortSignal.any([options.signal, controller.signal])
    : controller.signal;
  try {
    const stream = client.watchWorkspace(
      { id, follow: options.follow ?? false, awaitCreation: options.awaitCreation ?? false },
      { signal },
    );
    for await (const response of stream) {
      const event = toWorkspaceEvent(response);
      if (event) yield event;
    }
  } finally {
    controller.abort();
  }
}
