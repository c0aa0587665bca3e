import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { type Log, NetworkPolicyError, type RunResult } from "../platform/index.js";
import type { GitCommand, GitCommandOptions } from "./git-command.js";
import { GitError } from "./git-error.js";
import type { GitCheckoutSpec } from "./types.js";
import { normalizeCommitId } from "./validate-spec.js";

/** Only needed while a stash entry is created and applied; never written to any config. */
const STASH_IDENTITY = ["-c", "user.name=ws-daemon", "-c", "user.email=ws-daemon@localhost"];
const STASH_MESSAGE = "ws-daemon: local changes before moving to the clone target";

export const pathExists = (path: string): Promise<boolean> =>
  lstat(path).then(
    () => true,
    () => false,
  );

/** `-c`/env wiring of the commands that talk to origin, and the network policy's admission. */
export interface NetworkWiring extends Pick<GitCommandOptions, "configArgs" | "env"> {
  /** The `-c` settings that let git reach `uri`; throws NetworkPolicyError when refused. */
  admit(uri: string, what: string): Promise<string[]>;
}

/** The URL a relative submodule URL (`./x`, `../x`) names, relative to the superproject's. */
const submoduleUrl = (url: string, superproject: string): string => {
  if (!url.startsWith("./") && !url.startsWith("../")) return url;
  try {
    return new URL(url, superproject.endsWith("/") ? superproject : `${superproject}/`).href;
  } catch {
    return url; // not a URL base (scp-like): git resolves it on the same host
  }
};

/** The git steps shared by clone and bringToTarget, bound to one checkout directory. */
export class CheckoutSteps {
  private readonly local: GitCommandOptions;
  /** For commands that talk to origin: carries the credential wiring. */
  private readonly net: GitCommandOptions;

  constructor(
    readonly git: GitCommand,
    private readonly spec: GitCheckoutSpec,
    private readonly network: NetworkWiring,
    private readonly logger: Log,
    signal?: AbortSignal,
  ) {
    this.local = { cwd: spec.checkoutDir, ...(signal ? { signal } : {}) };
    this.net = {
      ...this.local,
      ...(network.configArgs ? { configArgs: network.configArgs } : {}),
      ...(network.env ? { env: network.env } : {}),
    };
  }

  run(args: string[], network = false): Promise<RunResult> {
    return this.git.run(args, network ? this.net : this.local);
  }

  must(
    what: string,
    args: string[],
    options: { network?: boolean; reason?: GitError["reason"] } = {},
  ) {
    return this.git.must(what, args, options.network ? this.net : this.local, options.reason);
  }

  async revParse(rev: string): Promise<string> {
    const r = await this.run(["rev-parse", "-q", "--verify", rev]);
    return r.exitCode === 0 ? r.stdout.trim() : "";
  }

  headCommit(): Promise<string> {
    return this.revParse("HEAD^{commit}");
  }

  async currentBranch(): Promise<string> {
    return (await this.run(["symbolic-ref", "-q", "--short", "HEAD"])).stdout.trim();
  }

  async isShallow(): Promise<boolean> {
    return (await this.run(["rev-parse", "--is-shallow-repository"])).stdout.trim() === "true";
  }

  async hasCommit(sha: string): Promise<boolean> {
    return (await this.run(["cat-file", "-e", `${sha}^{commit}`])).exitCode === 0;
  }

  /** origin is (re)pointed at the spec's URI; all branches are fetched by later `git fetch`es. */
  async configureOrigin(): Promise<void> {
    const hasOrigin = (await this.run(["remote", "get-url", "origin"])).exitCode === 0;
    await this.must("setting origin", [
      "remote",
      hasOrigin ? "set-url" : "add",
      "origin",
      this.spec.remoteUri,
    ]);
    await this.must("configuring origin", [
      "config",
      "--replace-all",
      "remote.origin.fetch",
      "+refs/heads/*:refs/remotes/origin/*",
    ]);
  }

  /**
   * The URL git will fetch `remote` from (the configuration's url.<base>.insteadOf applied)
   * must be the one the network policy checked.
   */
  async requireUrl(remote: string, expected: string): Promise<void> {
    const effective = (
      await this.must(`reading the URL of ${remote}`, ["remote", "get-url", remote])
    ).stdout.trim();
    if (effective !== expected) {
      throw new NetworkPolicyError(
        `the repository's configuration rewrites the URL of ${remote} to ${JSON.stringify(this.git.redact(effective).slice(0, 200))} (url.<base>.insteadOf); remove it`,
      );
    }
  }

  async applyCustomConfig(): Promise<void> {
    for (const [key, value] of Object.entries(this.spec.customConfig)) {
      await this.must(`setting config ${key}`, ["config", "--replace-all", key, value], {
        reason: "invalid-argument",
      });
    }
  }

  async remoteDefaultBranch(): Promise<string | undefined> {
    const r = await this.must(
      "asking origin for its default branch",
      ["ls-remote", "--symref", "origin", "HEAD"],
      {
        network: true,
      },
    );
    return /^ref: refs\/heads\/(\S+)\tHEAD$/m.exec(r.stdout)?.[1];
  }

  /** Fetches one branch of origin into its remote-tracking ref (depth 1 unless full history is wanted). */
  async fetchBranch(branch: string): Promise<void> {
    const shallow = await this.isShallow();
    const depth = this.spec.fullClone
      ? shallow
        ? ["--unshallow"]
        : []
      : shallow
        ? ["--depth", "1"]
        : [];
    await this.must(
      `fetching branch '${branch}'`,
      ["fetch", ...depth, "origin", `+refs/heads/${branch}:refs/remotes/origin/${branch}`],
      { network: true },
    );
  }

  /**
   * Makes the commit available and detaches HEAD at it. A shallow fetch of a single commit needs
   * a server that allows wants by id (protocol v2, or uploadpack.allowReachableSHA1InWant /
   * allowAnySHA1InWant); otherwise the full history is fetched and searched.
   */
  async checkoutCommit(): Promise<void> {
    const sha = normalizeCommitId(this.spec.cloneTarget);
    if (!(await this.hasCommit(sha))) {
      const shallow = await this.isShallow();
      const depth = shallow && !this.spec.fullClone ? ["--depth", "1"] : [];
      const bySha = await this.run(["fetch", ...depth, "origin", sha], true);
      if (bySha.exitCode !== 0) {
        const err = this.git.failure(`fetching commit ${sha}`, bySha);
        if (err.reason === "auth" || err.reason === "not-found" || err.reason === "network-policy")
          throw err;
        this.logger("info", "server refused fetching a commit by id; fetching the full history", {
          err,
        });
        await this.must(
          "fetching full history",
          ["fetch", ...(shallow ? ["--unshallow"] : []), "origin"],
          {
            network: true,
          },
        );
      } else if (shallow && this.spec.fullClone) {
        await this.must("fetching full history", ["fetch", "--unshallow", "origin"], {
          network: true,
        });
      }
      if (!(await this.hasCommit(sha))) {
        throw new GitError("target", `commit ${sha} does not exist in the repository`);
      }
    }
    await this.must(`checking out commit ${sha}`, ["checkout", "--detach", sha], {
      reason: "target",
    });
  }

  /**
   * Adds (or re-points) remote `upstream` and fetches it. The upstream is a convenience for the
   * user: failing to fetch it does not fail the checkout, and origin's credentials are not offered.
   */
  async addUpstream(): Promise<void> {
    const uri = this.spec.upstreamRemoteUri;
    if (uri === undefined || uri === "") return;
    const exists = (await this.run(["remote", "get-url", "upstream"])).exitCode === 0;
    await this.must("adding remote upstream", [
      "remote",
      exists ? "set-url" : "add",
      "upstream",
      uri,
    ]);
    await this.requireUrl("upstream", uri);
    const depth = this.spec.fullClone ? [] : ["--depth", "1"];
    const fetched = await this.git.run(["fetch", ...depth, "upstream"], {
      ...this.local,
      configArgs: ["-c", "credential.helper="],
    });
    if (fetched.exitCode !== 0) {
      this.logger("warn", "fetching remote upstream failed", {
        detail: this.git.redact(fetched.stderr),
      });
    }
  }

  /**
   * Best effort, as upstream did: a broken submodule must not fail the workspace. The hosts of
   * the first level are checked against the network policy and pinned like origin's; a refused
   * one (and every nested submodule on a host not admitted) is not fetched.
   */
  async updateSubmodules(): Promise<void> {
    if (!(await pathExists(join(this.spec.checkoutDir, ".gitmodules")))) return;
    const depth = this.spec.fullClone ? [] : ["--depth", "1"];
    const admitted: string[] = [];
    for (const url of await this.submoduleUrls()) {
      try {
        admitted.push(...(await this.network.admit(url, "submodule")));
      } catch (err) {
        if (!(err instanceof NetworkPolicyError)) throw err;
        this.logger("warn", "submodule refused by the network policy; it is not fetched", {
          url: this.git.redact(url),
          err,
        });
      }
    }
    // --checkout: whatever submodule.<name>.update a configuration says, nothing else runs
    const r = await this.git.run(
      ["submodule", "update", "--init", "--recursive", "--checkout", ...depth],
      {
        ...this.net,
        configArgs: [...(this.net.configArgs ?? []), ...admitted.flatMap((c) => ["-c", c])],
      },
    );
    if (r.exitCode !== 0)
      this.logger("warn", "submodule update failed", { detail: this.git.redact(r.stderr) });
  }

  /** The URLs of .gitmodules (relative ones resolved against origin's), as git reads them. */
  private async submoduleUrls(): Promise<string[]> {
    const r = await this.run([
      "config",
      "--file",
      ".gitmodules",
      "-z",
      "--get-regexp",
      "^submodule\\..*\\.url$",
    ]);
    return r.stdout
      .split("\0")
      .map((entry) => entry.slice(entry.indexOf("\n") + 1))
      .filter((url) => url !== "")
      .map((url) => submoduleUrl(url, this.spec.remoteUri));
  }

  /** Stashes tracked modifications; returns whether a stash entry was created. */
  async stashLocalChanges(): Promise<boolean> {
    const before = await this.revParse("refs/stash");
    // fails harmlessly in a repository without commits: nothing to stash then
    await this.run([
      ...STASH_IDENTITY,
      "stash",
      "push",
      "--no-include-untracked",
      "-m",
      STASH_MESSAGE,
    ]);
    const after = await this.revParse("refs/stash");
    return after !== "" && after !== before;
  }

  /**
   * Re-applies the newest stash entry. On conflict the tree is reset to HEAD and the entry stays in
   * the stash list (a failed pop does not drop it): the user's work is never discarded.
   * Returns whether the changes were re-applied.
   */
  async restoreLocalChanges(): Promise<boolean> {
    const pop = await this.run([...STASH_IDENTITY, "stash", "pop"]);
    if (pop.exitCode === 0) return true;
    this.logger(
      "warn",
      "local changes conflict with the clone target; they are kept in git stash",
      {
        detail: this.git.redact(pop.stderr),
      },
    );
    await this.run(["reset", "--hard", "--quiet"]);
    return false;
  }
}
