import { bool, type CommandSpec, workspaceId } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { printLine } from "../output.js";
import { withWatch } from "../watch-session.js";
import { WATCH_FLAG } from "./wait.js";

const printUrl = (ctx: Parameters<CommandSpec["run"]>[0], id: string, url: string) =>
  printLine(ctx, ctx.output === "json" ? JSON.stringify({ id, url }) : url);

export const snapshot: CommandSpec = {
  name: "snapshot",
  summary: "take a snapshot of a workspace and print its URL",
  args: ["<id>"],
  flags: {
    ...WATCH_FLAG,
    "return-immediately": {
      type: "boolean",
      description: "answer with the URL at once; the upload goes on (see `watch` or `get`)",
    },
  },
  async run(ctx, input) {
    const id = workspaceId(input);
    const returnImmediately = bool(input.flags, "return-immediately");
    const { url } = await withWatch(
      ctx,
      id,
      bool(input.flags, "watch") && !returnImmediately,
      (signal) => ctx.content().takeSnapshot({ id, returnImmediately }, { signal }),
      (r) => `${id}: snapshot ${r.url}`,
      "snapshot",
    );
    printUrl(ctx, id, url);
    return EXIT.ok;
  },
};

export const backup: CommandSpec = {
  name: "backup",
  summary: "replace a workspace's backup with its current content and print the URL",
  args: ["<id>"],
  flags: WATCH_FLAG,
  async run(ctx, input) {
    const id = workspaceId(input);
    const { url } = await withWatch(
      ctx,
      id,
      bool(input.flags, "watch"),
      (signal) => ctx.content().backupWorkspace({ id }, { signal }),
      (r) => `${id}: backup ${r.url}`,
      "backup",
    );
    printUrl(ctx, id, url);
    return EXIT.ok;
  },
};
