import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  CloneTargetMode,
  GitAuthMethod,
  type GitInitializerSchema,
  type WorkspaceInitializerSchema,
} from "@ws-daemon/api";
import { bool, type FlagSpec, type Flags, list, requiredStr, str, UsageError } from "../command.js";

type Initializer = MessageInitShape<typeof WorkspaceInitializerSchema>;
type GitInit = MessageInitShape<typeof GitInitializerSchema>;

const TARGET_MODES: Record<string, CloneTargetMode> = {
  "remote-head": CloneTargetMode.REMOTE_HEAD,
  "remote-commit": CloneTargetMode.REMOTE_COMMIT,
  "remote-branch": CloneTargetMode.REMOTE_BRANCH,
  "local-branch": CloneTargetMode.LOCAL_BRANCH,
};
const AUTH: Record<string, GitAuthMethod> = {
  none: GitAuthMethod.NO_AUTH,
  basic: GitAuthMethod.BASIC_AUTH,
  "basic-ots": GitAuthMethod.BASIC_AUTH_OTS,
};

export const GIT_FLAGS: Record<string, FlagSpec> = {
  remote: { type: "string", value: "URL", description: "the repository to clone (required)" },
  upstream: {
    type: "string",
    value: "URL",
    description: "upstream of a fork, added as remote `upstream`",
  },
  "target-mode": {
    type: "string",
    value: "MODE",
    choices: Object.keys(TARGET_MODES),
    description: "what to check out (default remote-head)",
  },
  target: { type: "string", value: "REF", description: "branch or commit, per --target-mode" },
  "checkout-location": {
    type: "string",
    value: "PATH",
    description: "folder in the workspace (default the root)",
  },
  "full-clone": { type: "boolean", description: "the full history instead of depth 1" },
  "git-config": {
    type: "string",
    multiple: true,
    value: "KEY=VALUE",
    description: "git config in the clone (repeatable)",
  },
  auth: {
    type: "string",
    value: "METHOD",
    choices: Object.keys(AUTH),
    description: "none (default), basic or basic-ots",
  },
  user: { type: "string", value: "USER", description: "user for basic auth" },
  "password-env": {
    type: "string",
    value: "VAR",
    description:
      "environment variable holding the password or token (never a flag: ps would show it)",
  },
  "ots-url": {
    type: "string",
    value: "URL",
    description: "one-time secret URL answering <user>:<password>",
  },
};

const choice = <T>(flags: Flags, name: string, table: Record<string, T>, fallback: T): T => {
  const v = str(flags, name);
  if (v === undefined) return fallback;
  const found = table[v];
  if (found === undefined) {
    throw new UsageError(`--${name} is one of ${Object.keys(table).join(", ")}, got "${v}"`);
  }
  return found;
};

export function gitFromFlags(flags: Flags, env: NodeJS.ProcessEnv): GitInit {
  const customConfig: Record<string, string> = {};
  for (const entry of list(flags, "git-config")) {
    const at = entry.indexOf("=");
    if (at <= 0) throw new UsageError(`--git-config is KEY=VALUE, got "${entry}"`);
    customConfig[entry.slice(0, at)] = entry.slice(at + 1);
  }
  const passwordVar = str(flags, "password-env");
  const password = passwordVar === undefined ? "" : env[passwordVar];
  if (password === undefined)
    throw new UsageError(`environment variable ${passwordVar} is not set`);
  return {
    remoteUri: requiredStr(flags, "remote"),
    upstreamRemoteUri: str(flags, "upstream") ?? "",
    targetMode: choice(flags, "target-mode", TARGET_MODES, CloneTargetMode.REMOTE_HEAD),
    cloneTarget: str(flags, "target") ?? "",
    checkoutLocation: str(flags, "checkout-location") ?? "",
    fullClone: bool(flags, "full-clone"),
    config: {
      customConfig,
      authentication: choice(flags, "auth", AUTH, GitAuthMethod.NO_AUTH),
      authUser: str(flags, "user") ?? "",
      authPassword: password,
      authOts: str(flags, "ots-url") ?? "",
    },
  };
}

/** `--file url=U,path=P,digest=sha256:...` → one FileInfo. */
function fileFromFlag(text: string) {
  const fields: Record<string, string> = {};
  for (const part of text.split(",")) {
    const at = part.indexOf("=");
    if (at <= 0) throw new UsageError(`--file is url=URL,path=PATH,digest=DIGEST, got "${text}"`);
    fields[part.slice(0, at)] = part.slice(at + 1);
  }
  const { url, path, digest } = fields;
  if (!url || !path || !digest) {
    throw new UsageError(`--file needs url=, path= and digest=, got "${text}"`);
  }
  return { url, filePath: path, digest };
}

export interface InitializerKind {
  summary: string;
  flags: Record<string, FlagSpec>;
  build(flags: Flags, env: NodeJS.ProcessEnv): Initializer;
}

export const INITIALIZERS: Record<string, InitializerKind> = {
  empty: {
    summary: "an empty workspace",
    flags: {},
    build: () => ({ spec: { case: "empty", value: {} } }),
  },
  git: {
    summary: "clone a git repository",
    flags: GIT_FLAGS,
    build: (f, env) => ({ spec: { case: "git", value: gitFromFlags(f, env) } }),
  },
  download: {
    summary: "download files, each checked against its digest",
    flags: {
      file: {
        type: "string",
        multiple: true,
        value: "url=U,path=P,digest=D",
        description: "a file to fetch (repeatable, at least one)",
      },
      "target-location": {
        type: "string",
        value: "PATH",
        description: "folder in the workspace (default the root)",
      },
    },
    build: (f) => {
      const files = list(f, "file").map(fileFromFlag);
      if (files.length === 0) throw new UsageError("--file is required");
      return {
        spec: {
          case: "download",
          value: { files, targetLocation: str(f, "target-location") ?? "" },
        },
      };
    },
  },
  snapshot: {
    summary: "restore a snapshot",
    flags: {
      snapshot: { type: "string", value: "URL", description: "the snapshot's URL (required)" },
      "from-volume-snapshot": { type: "boolean", description: "restore from a volume snapshot" },
    },
    build: (f) => ({
      spec: {
        case: "snapshot",
        value: {
          snapshot: requiredStr(f, "snapshot"),
          fromVolumeSnapshot: bool(f, "from-volume-snapshot"),
        },
      },
    }),
  },
  backup: {
    summary: "restore the latest backup of the owner and meta id",
    flags: {
      "checkout-location": {
        type: "string",
        value: "PATH",
        description: "where the git checkout is (for the dispose status)",
      },
      "from-volume-snapshot": { type: "boolean", description: "restore from a volume snapshot" },
    },
    build: (f) => ({
      spec: {
        case: "backup",
        value: {
          checkoutLocation: str(f, "checkout-location") ?? "",
          fromVolumeSnapshot: bool(f, "from-volume-snapshot"),
        },
      },
    }),
  },
  prebuild: {
    summary:
      "restore a prebuild snapshot, then bring the git checkout to its target (git clone if the snapshot is missing)",
    flags: {
      snapshot: { type: "string", value: "URL", description: "the prebuild's snapshot URL" },
      ...GIT_FLAGS,
    },
    build: (f, env) => ({
      spec: {
        case: "prebuild",
        value: {
          ...(str(f, "snapshot") ? { prebuild: { snapshot: str(f, "snapshot") ?? "" } } : {}),
          git: str(f, "remote") === undefined ? [] : [gitFromFlags(f, env)],
        },
      },
    }),
  },
};
