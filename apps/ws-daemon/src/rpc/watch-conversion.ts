import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  OperationPhase,
  type OperationProgressSchema,
  WorkspaceContentState,
  WorkspaceOperation,
  type WorkspaceSummarySchema,
} from "@ws-daemon/api";
import type {
  OperationPhase as DomainPhase,
  OperationKind,
  WorkspaceRecord,
  WorkspaceState,
} from "../content/index.js";
import type { MeasuredSize, ProgressView } from "../watch/index.js";

export const states: Record<WorkspaceState, WorkspaceContentState> = {
  none: WorkspaceContentState.NONE,
  "setting-up": WorkspaceContentState.SETTING_UP,
  available: WorkspaceContentState.AVAILABLE,
  "wrapping-up": WorkspaceContentState.WRAPPING_UP,
};

export const operations: Record<OperationKind, WorkspaceOperation> = {
  init: WorkspaceOperation.INIT,
  snapshot: WorkspaceOperation.SNAPSHOT,
  backup: WorkspaceOperation.BACKUP,
  dispose: WorkspaceOperation.DISPOSE,
};

const phases: Record<DomainPhase, OperationPhase> = {
  queued: OperationPhase.QUEUED,
  preparing: OperationPhase.PREPARING,
  cloning: OperationPhase.CLONING,
  restoring: OperationPhase.RESTORING,
  downloading: OperationPhase.DOWNLOADING,
  archiving: OperationPhase.ARCHIVING,
  "git-status": OperationPhase.GIT_STATUS,
  deleting: OperationPhase.DELETING,
  finalizing: OperationPhase.FINALIZING,
};

/** The wire's state of a workspace that may be gone (undefined: removed, or not there yet). */
export const wireState = (s: WorkspaceState | undefined): WorkspaceContentState =>
  s === undefined ? WorkspaceContentState.NONE : states[s];

const timestamp = (ms: number) => timestampFromMs(ms);
const isoTimestamp = (iso: string) => timestampFromMs(Date.parse(iso));

export const toWireProgress = (
  p: ProgressView,
): MessageInitShape<typeof OperationProgressSchema> => ({
  operation: operations[p.operation],
  phase: phases[p.phase],
  initializer: p.initializer,
  bytesDone: BigInt(Math.round(p.bytesDone)),
  bytesTotal: BigInt(Math.round(p.bytesTotal)),
  filesDone: BigInt(p.filesDone),
  filesTotal: BigInt(p.filesTotal),
  bytesPerSecond: p.bytesPerSecond,
  ...(p.etaMs !== undefined ? { etaMs: BigInt(p.etaMs) } : {}),
  elapsedMs: BigInt(p.elapsedMs),
  detail: p.detail,
});

export const toWireSummary = (
  record: WorkspaceRecord,
  size: MeasuredSize | undefined,
  running: readonly OperationKind[],
): MessageInitShape<typeof WorkspaceSummarySchema> => {
  const [operation] = running;
  const backup = record.lastBackup;
  return {
    id: record.id,
    metadata: { owner: record.metadata.owner, metaId: record.metadata.metaId },
    state: states[record.state],
    sizeBytes: BigInt(size?.bytes ?? 0),
    ...(size ? { sizeMeasuredAt: timestamp(size.measuredAt) } : {}),
    ...(backup
      ? {
          lastBackup: {
            url: backup.url,
            bytes: BigInt(backup.bytes),
            finishedAt: isoTimestamp(backup.finishedAt),
          },
        }
      : {}),
    operation: operation === undefined ? WorkspaceOperation.UNSPECIFIED : operations[operation],
    initError: record.initFailure?.message ?? "",
    createdAt: isoTimestamp(record.createdAt),
  };
};

export { timestamp };
