import { bool, type CommandSpec, workspaceId } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { printLine } from "../output.js";
import { withWatch } from "../watch-session.js";

export const WATCH_FLAG = {
  watch: { type: "boolean", short: "w", description: "show progress while it runs (on stderr)" },
} as const;

export const wait: CommandSpec = {
  name: "wait",
  summary: "wait until a workspace's init has finished (WaitForInit)",
  args: ["<id>"],
  flags: WATCH_FLAG,
  async run(ctx, input) {
    const id = workspaceId(input);
    await withWatch(
      ctx,
      id,
      bool(input.flags, "watch"),
      (signal) => ctx.content().waitForInit({ id }, { signal }),
      () => `${id}: ready`,
      "init",
    );
    if (ctx.output === "json") printLine(ctx, JSON.stringify({ id, ready: true }));
    else printLine(ctx, `${id} is ready`);
    return EXIT.ok;
  },
};
