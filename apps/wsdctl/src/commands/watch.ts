import { bool, type CommandSpec, workspaceId } from "../command.js";
import { EXIT, exitCodeOf } from "../exit-codes.js";
import { jsonLinesDisplay, lineDisplay, terminalDisplay } from "../progress-display.js";
import { relayWatch } from "../watch-session.js";

export const watch: CommandSpec = {
  name: "watch",
  summary: "follow a workspace's state and the progress of what runs on it",
  args: ["<id>"],
  details:
    "Ends when the running operation ends (at once when none runs), with --follow when the workspace is disposed. The exit code is that of the last operation's outcome.",
  flags: {
    follow: {
      type: "boolean",
      short: "f",
      description: "keep watching until the workspace is disposed",
    },
    "await-creation": {
      type: "boolean",
      description: "wait for a workspace that does not exist yet",
    },
  },
  async run(ctx, input) {
    const id = workspaceId(input);
    const display =
      ctx.output === "json"
        ? jsonLinesDisplay(ctx.stdout)
        : ctx.stdoutIsTTY && ctx.progress
          ? terminalDisplay(ctx.stderr, id)
          : lineDisplay(ctx.stdout, id);
    const last = await relayWatch(ctx, id, display, {
      follow: bool(input.flags, "follow"),
      awaitCreation: bool(input.flags, "await-creation"),
      signal: ctx.signal,
    }).catch((e: unknown) => {
      display.end(false);
      throw e;
    });
    if (last?.type === "finished") {
      display.end(
        last.ok,
        last.ok
          ? `${id}: ${last.operationName} done`
          : `${id}: ${last.operationName} failed: ${last.codeName}: ${last.message}`,
      );
      return last.ok || last.code === undefined ? EXIT.ok : exitCodeOf(last.code);
    }
    display.end(true, last?.type === "state" && last.removed ? `${id}: removed` : undefined);
    return EXIT.ok;
  },
};
