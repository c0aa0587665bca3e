import type { CommandSpec, FlagSpec } from "../command.js";
import { bool, requiredStr, str, UsageError, workspaceId } from "../command.js";
import { EXIT } from "../exit-codes.js";
import { parseBytes } from "../format.js";
import { printLine } from "../output.js";
import { withWatch } from "../watch-session.js";
import { INITIALIZERS, type InitializerKind } from "./initializers.js";
import { WATCH_FLAG } from "./wait.js";

const COMMON_FLAGS: Record<string, FlagSpec> = {
  owner: { type: "string", value: "OWNER", description: "the workspace's owner (required)" },
  "meta-id": {
    type: "string",
    value: "ID",
    description: "the long-lived workspace it belongs to (required)",
  },
  quota: { type: "string", value: "SIZE", description: "storage quota, e.g. 10GiB (default none)" },
  "no-remote-storage": { type: "boolean", description: "never back up or snapshot this workspace" },
  ...WATCH_FLAG,
};

function initCommand(
  kind: string,
  initializer: InitializerKind,
  env: NodeJS.ProcessEnv,
): CommandSpec {
  return {
    name: `init ${kind}`,
    summary: `create a workspace: ${initializer.summary}`,
    args: ["<id>"],
    flags: { ...COMMON_FLAGS, ...initializer.flags },
    details:
      "Returns once the workspace is ready (InitWorkspace waits for it); --watch shows how it gets there.",
    async run(ctx, input) {
      const id = workspaceId(input);
      const quotaText = str(input.flags, "quota");
      const quota = quotaText === undefined ? 0 : parseBytes(quotaText);
      if (quota === undefined)
        throw new UsageError(`--quota is a size like 10GiB, got "${quotaText}"`);
      const request = {
        id,
        metadata: {
          owner: requiredStr(input.flags, "owner"),
          metaId: requiredStr(input.flags, "meta-id"),
        },
        initializer: initializer.build(input.flags, env),
        storageQuotaBytes: BigInt(quota),
        remoteStorageDisabled: bool(input.flags, "no-remote-storage"),
      };
      await withWatch(
        ctx,
        id,
        bool(input.flags, "watch"),
        (signal) => ctx.content().initWorkspace(request, { signal }),
        () => `${id}: ready`,
        "init",
      );
      printLine(
        ctx,
        ctx.output === "json" ? JSON.stringify({ id, ready: true }) : `${id} is ready`,
      );
      return EXIT.ok;
    },
  };
}

/** `init <kind>` for every initializer. */
export const initCommands = (env: NodeJS.ProcessEnv): CommandSpec[] =>
  Object.entries(INITIALIZERS).map(([kind, init]) => initCommand(kind, init, env));
