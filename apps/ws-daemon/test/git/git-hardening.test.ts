/**
 * The second wall on its own (issue 17, finding 1): git runs unconfined here (the plain process
 * runner, as whoever runs the tests), so only the neutralised configuration stands between a
 * repository's .git/config and a command. Each vector plants a command that would create a
 * marker file; none may appear, and the operation still works.
 */
import { appendFile, chmod, mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { commandOverrides } from "../../src/git/git-hardening.js";
import type { GitCheckoutSpec } from "../../src/git/types.js";
import { commitWithSignatureHeader } from "../security/git-attack-fixtures.js";
import { createFixtureRepo, type FixtureRepo, gitSync } from "../support/git-repo-fixtures.js";
import { GitTestEnv } from "./git-test-env.js";

let env: GitTestEnv;
let repo: FixtureRepo;
let markers: string;

beforeAll(async () => {
  env = await GitTestEnv.create();
  repo = await createFixtureRepo(env.repos, "project");
  markers = join(env.root, "markers");
  await mkdir(markers);
});
afterAll(() => env?.dispose());
afterEach(async () => {
  const planted = await readdir(markers);
  for (const name of planted) await rm(join(markers, name));
  expect(planted).toEqual([]);
});

/** A script that leaves a marker; for keys that name a program (no shell). */
const script = async (name: string): Promise<string> => {
  const path = join(env.root, `${name}.sh`);
  await writeFile(path, `#!/bin/sh\ntouch ${markers}/${name}\ncat\n`);
  await chmod(path, 0o755);
  return path;
};
const shellCommand = (name: string) => `touch ${markers}/${name}; cat`;

const configure = (dir: string, text: string) => appendFile(join(dir, ".git", "config"), text);

/** A fresh checkout (made by the tests' own git) and the spec that names it. */
const checkout = (): { dir: string; spec: GitCheckoutSpec } => {
  const dir = env.cloneWithGit(repo.bare);
  return { dir, spec: { ...env.spec(`file://${repo.bare}`), checkoutDir: dir } };
};

const client = () => env.client();

describe("repository configuration that would run commands, with git unconfined", () => {
  it("filter drivers (clean, smudge, process; also one whose name holds '=') at status", async () => {
    const { dir } = checkout();
    await writeFile(join(dir, ".gitattributes"), "*.md filter=x\n*.txt filter=a=b\n");
    await configure(
      dir,
      `[filter "x"]\n\tclean = ${shellCommand("clean")}\n\tsmudge = ${shellCommand("smudge")}\n\trequired = true\n` +
        `[filter "a=b"]\n\tprocess = ${shellCommand("process")}\n`,
    );
    await writeFile(join(dir, "README.md"), "changed\n");
    await writeFile(join(dir, "src", "a.txt"), "changed\n");
    const status = await client().status(dir);
    expect(status?.uncommittedFiles.sort()).toEqual(["README.md", "src/a.txt"]);
  });

  it("log.showSignature with gpg.program, and core.fsmonitor, at status", async () => {
    const { dir } = checkout();
    const gpg = await script("gpg");
    await configure(
      dir,
      `[log]\n\tshowSignature = true\n[gpg]\n\tprogram = ${gpg}\n[gpg "ssh"]\n\tprogram = ${gpg}\n` +
        `[core]\n\tfsmonitor = ${await script("fsmonitor")}\n`,
    );
    commitWithSignatureHeader(dir);
    const status = await client().status(dir);
    expect(status?.totalUnpushedCommits).toBe(1);
  });

  it("core.worktree naming another directory: status stays on the checkout", async () => {
    const { dir } = checkout();
    const elsewhere = join(env.root, "elsewhere");
    await mkdir(elsewhere, { recursive: true });
    await writeFile(join(elsewhere, "other.txt"), "not ours\n");
    await configure(dir, `[core]\n\tworktree = ${elsewhere}\n`);
    const status = await client().status(dir);
    expect(status?.untrackedFiles).toEqual([]);
    expect(status?.uncommittedFiles).toEqual([]);
  });

  it("remote.origin.uploadpack, core.gitProxy (through url.*.insteadOf) and submodule update commands in bringToTarget", async () => {
    const { dir, spec } = checkout();
    await configure(
      dir,
      `[remote "origin"]\n\tuploadpack = ${shellCommand("uploadpack")}\n` +
        `[core]\n\tgitProxy = ${await script("gitproxy")}\n\tsshCommand = ${shellCommand("ssh")}\n` +
        `[submodule "sub"]\n\tupdate = !${shellCommand("submodule")}\n` +
        `[credential]\n\thelper = !${shellCommand("credential")}\n` +
        `[diff]\n\texternal = ${await script("diff")}\n` +
        `[merge "m"]\n\tdriver = ${shellCommand("merge")}\n`,
    );
    await writeFile(join(dir, "README.md"), "a local change\n");
    const result = await client().bringToTarget(spec);
    expect(result.restoredLocalChanges).toBe(true);
    expect(gitSync(dir, ["config", "--get", "remote.origin.uploadpack"]).trim()).not.toBe("");
  });

  it("a redirect to git:// through url.*.insteadOf does not start the proxy command", async () => {
    const { dir, spec } = checkout();
    await configure(
      dir,
      `[core]\n\tgitProxy = ${await script("gitproxy-git")}\n[url "git://127.0.0.1:9/"]\n\tinsteadOf = file://\n`,
    );
    await expect(client().bringToTarget(spec)).rejects.toMatchObject({ kind: expect.any(String) });
  });
});

describe("commandOverrides", () => {
  it("overrides command-bearing keys with harmless values, keeping subsection case", () => {
    expect(
      new Map(
        commandOverrides([
          "filter.X.clean",
          "filter.x.smudge",
          "filter.a=b.process",
          "filter.x.required",
          "diff.d.textconv",
          "diff.d.command",
          "merge.m.driver",
          "submodule.Sub.update",
          "remote.origin.uploadpack",
          "remote.origin.receivepack",
          "GPG.program",
          "gpg.ssh.defaultKeyCommand",
          "core.fsmonitor",
          "core.hooksPath",
          "core.sshCommand",
          "credential.https://x.helper",
          "mergetool.t.cmd",
          "user.name",
          "remote.origin.url",
          "submodule.recurse",
          "nodot",
        ]),
      ),
    ).toEqual(
      new Map([
        ["filter.X.clean", ""],
        ["filter.x.smudge", ""],
        ["filter.a=b.process", ""],
        ["filter.x.required", "false"],
        ["diff.d.textconv", ""],
        ["diff.d.command", ""],
        ["merge.m.driver", "false"],
        ["submodule.Sub.update", "checkout"],
        ["remote.origin.uploadpack", "git-upload-pack"],
        ["remote.origin.receivepack", "git-receive-pack"],
        ["gpg.program", ""],
        ["gpg.ssh.defaultkeycommand", ""],
        ["core.fsmonitor", "false"],
        ["core.hookspath", "/dev/null"],
        ["core.sshcommand", ""],
        ["credential.https://x.helper", ""],
        ["mergetool.t.cmd", ""],
      ]),
    );
  });
});
