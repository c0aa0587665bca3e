import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ListWorkspacesResponseSchema } from "@ws-daemon/api";
import type { WorkspaceContentManager } from "../content/index.js";
import type { WatchHub, WorkspaceSizes } from "../watch/index.js";
import { toWireSummary } from "./watch-conversion.js";

/** Trees measured at once while listing: enough to overlap I/O, few enough to leave disks alone. */
const MEASURE_CONCURRENCY = 4;

/** ListWorkspaces: every record, by id, with its (cached) content size and running operation. */
export async function listWorkspaces(deps: {
  manager: WorkspaceContentManager;
  hub: WatchHub;
  sizes: WorkspaceSizes;
}): Promise<MessageInitShape<typeof ListWorkspacesResponseSchema>> {
  const records = deps.manager.list().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const summaries = new Array<ReturnType<typeof toWireSummary>>(records.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < records.length; i = next++) {
      const record = records[i];
      if (!record) continue;
      const size = await deps.sizes
        .sizeOf(record.id, deps.manager.contentDir(record.id))
        .catch(() => undefined);
      summaries[i] = toWireSummary(record, size, deps.hub.operations(record.id));
    }
  };
  await Promise.all(Array.from({ length: MEASURE_CONCURRENCY }, worker));
  return { workspaces: summaries };
}
