import { toJson } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  Code,
  ConnectError,
  GetWorkspaceStateResponseSchema,
  SnapshotState,
  stateName,
  WorkspaceSummarySchema,
} from "@ws-daemon/api";
import { type CommandSpec, workspaceId } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { formatBytes, table } from "../format.js";
import { printLine } from "../output.js";

export const get: CommandSpec = {
  name: "get",
  summary: "show one workspace: state, metadata, size, last backup, snapshots",
  args: ["<id>"],
  flags: {},
  async run(ctx, input) {
    const id = workspaceId(input);
    const [state, listing] = await Promise.all([
      ctx.content().getWorkspaceState({ id }, { signal: ctx.signal }),
      ctx.content().listWorkspaces({}, { signal: ctx.signal }),
    ]);
    const summary = listing.workspaces.find((w) => w.id === id);
    if (ctx.output === "json") {
      const options = { alwaysEmitImplicit: true };
      const json = {
        state: toJson(GetWorkspaceStateResponseSchema, state, options),
        workspace: summary ? toJson(WorkspaceSummarySchema, summary, options) : null,
      };
      printLine(ctx, JSON.stringify(json, null, 2));
      return EXIT.ok;
    }
    if (!summary && !state.metadata)
      throw new ConnectError(`workspace ${id} is unknown`, Code.NotFound);
    const rows = [
      ["id", id],
      ["owner/meta", `${state.metadata?.owner ?? ""}/${state.metadata?.metaId ?? ""}`],
      ["state", stateName(state.state)],
      ["size", summary ? formatBytes(Number(summary.sizeBytes)) : "-"],
      ["init source", state.initSource || "-"],
      ["created", summary?.createdAt ? timestampDate(summary.createdAt).toISOString() : "-"],
      [
        "last backup",
        summary?.lastBackup
          ? `${summary.lastBackup.url} (${formatBytes(Number(summary.lastBackup.bytes))})`
          : "-",
      ],
    ];
    if (state.initError) rows.push(["init error", state.initError]);
    printLine(ctx, table(rows));
    for (const s of state.snapshots) {
      const what = SnapshotState[s.state].toLowerCase();
      printLine(ctx, `snapshot ${what} ${s.url || "(no url yet)"}${s.error ? `: ${s.error}` : ""}`);
    }
    return EXIT.ok;
  },
};
