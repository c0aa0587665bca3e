import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  ListWorkspacesResponseSchema,
  operationName,
  stateName,
  type WorkspaceSummary,
} from "@ws-daemon/api";
import { type CommandSpec, noPositionals } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { formatBytes, table } from "../format.js";
import { printLine, printMessage } from "../output.js";

export const summaryRow = (w: WorkspaceSummary): string[] => [
  w.id,
  `${w.metadata?.owner ?? ""}/${w.metadata?.metaId ?? ""}`,
  stateName(w.state),
  formatBytes(Number(w.sizeBytes)),
  w.lastBackup?.finishedAt ? timestampDate(w.lastBackup.finishedAt).toISOString() : "-",
  w.operation ? operationName(w.operation) : "-",
];

export const SUMMARY_HEADER = ["ID", "OWNER/META", "STATE", "SIZE", "LAST BACKUP", "RUNNING"];

export const list: CommandSpec = {
  name: "list",
  summary: "list the workspaces the daemon holds",
  args: [],
  flags: {},
  async run(ctx, input) {
    noPositionals(input);
    const response = await ctx.content().listWorkspaces({}, { signal: ctx.signal });
    if (ctx.output === "json") printMessage(ctx, ListWorkspacesResponseSchema, response);
    else if (response.workspaces.length === 0) printLine(ctx, "no workspaces");
    else printLine(ctx, table([SUMMARY_HEADER, ...response.workspaces.map(summaryRow)]));
    return EXIT.ok;
  },
};
