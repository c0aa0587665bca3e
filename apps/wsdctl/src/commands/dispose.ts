import { DisposeWorkspaceResponseSchema, type GitStatus } from "@ws-daemon/api";
import { bool, type CommandSpec, workspaceId } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { printLine, printMessage } from "../output.js";
import { withWatch } from "../watch-session.js";
import { WATCH_FLAG } from "./wait.js";

/** `git status`-like text of what a disposed workspace left behind. */
export function describeGitStatus(s: GitStatus): string {
  const lines = [`branch ${s.branch || "(detached)"} at ${s.latestCommit || "?"}`];
  const section = (title: string, total: bigint, items: string[]) => {
    lines.push(`${title}: ${total}`);
    for (const item of items) lines.push(`  ${item}`);
    if (BigInt(items.length) < total) lines.push(`  ... and ${total - BigInt(items.length)} more`);
  };
  section("uncommitted files", s.totalUncommittedFiles, s.uncommittedFiles);
  section("untracked files", s.totalUntrackedFiles, s.untrackedFiles);
  section("unpushed commits", s.totalUnpushedCommits, s.unpushedCommits);
  return lines.join("\n");
}

export const dispose: CommandSpec = {
  name: "dispose",
  summary: "dispose of a workspace (optionally backing it up first) and print its git status",
  args: ["<id>"],
  flags: {
    ...WATCH_FLAG,
    backup: { type: "boolean", description: "back the content up before deleting it" },
    "backup-logs": {
      type: "boolean",
      description: "also keep the workspace's logs (accepted, unused)",
    },
  },
  async run(ctx, input) {
    const id = workspaceId(input);
    const response = await withWatch(
      ctx,
      id,
      bool(input.flags, "watch"),
      (signal) =>
        ctx.content().disposeWorkspace(
          {
            id,
            backup: bool(input.flags, "backup"),
            backupLogs: bool(input.flags, "backup-logs"),
          },
          { signal },
        ),
      () => `${id}: disposed`,
      "dispose",
    );
    if (ctx.output === "json") printMessage(ctx, DisposeWorkspaceResponseSchema, response);
    else if (response.gitStatus) printLine(ctx, describeGitStatus(response.gitStatus));
    else printLine(ctx, `${id} disposed (no git checkout)`);
    return EXIT.ok;
  },
};
