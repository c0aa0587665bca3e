import { existsSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type GitStatusSummary, parsePorcelainV2 } from "../../src/git/index.js";
import { gitSync } from "../support/git-repo-fixtures.js";
import { gitTestFile } from "./git-test-env.js";

const fixture = gitTestFile();
const cloneFixture = (full = false): string => fixture.env.cloneWithGit(fixture.repo.bare, full);

/** A summary with nothing in it; tests name only what differs. */
const emptyStatus = (overrides: Partial<GitStatusSummary> = {}): GitStatusSummary => ({
  branch: "",
  latestCommit: "",
  uncommittedFiles: [],
  untrackedFiles: [],
  unpushedCommits: [],
  totalUncommittedFiles: 0,
  totalUntrackedFiles: 0,
  totalUnpushedCommits: 0,
  ...overrides,
});

const ODD_NAMES = [
  "with space.txt",
  "new\nline.txt",
  "tab\there.txt",
  "ünïcödé-ファイル.txt",
  `quo"te's.txt`,
  "-leading-dash.txt",
  "back\\slash.txt",
  "dir with space/inner file.txt",
];

describe("GitClient.status", () => {
  it("is undefined for a directory that is not a checkout, even inside another repository", async () => {
    const plain = join(fixture.env.root, "plain");
    await mkdir(plain, { recursive: true });
    expect(await fixture.env.client().status(plain)).toBeUndefined();
    expect(
      await fixture.env.client().status(join(fixture.env.root, "does-not-exist")),
    ).toBeUndefined();
    const checkout = cloneFixture();
    await mkdir(join(checkout, "sub"), { recursive: true });
    expect(await fixture.env.client().status(join(checkout, "sub"))).toBeUndefined();
  });

  it("reports exact paths with spaces, newlines, unicode, quotes and leading dashes", async () => {
    const dir = cloneFixture();
    // tracked odd files, then modified; a rename; and the same names untracked in a subdir
    for (const name of ODD_NAMES) {
      await mkdir(join(dir, name, ".."), { recursive: true });
      await writeFile(join(dir, name), "v1\n");
    }
    gitSync(dir, ["add", "-A"]);
    gitSync(dir, ["commit", "-q", "-m", "odd names"]);
    for (const name of ODD_NAMES) await writeFile(join(dir, name), "v2\n");
    gitSync(dir, ["mv", "--", "README.md", "READ ME → renamed.md"]);
    await writeFile(join(dir, "src", "b.txt"), "staged change\n");
    gitSync(dir, ["add", "--", "src/b.txt"]);
    await mkdir(join(dir, "untracked dir"), { recursive: true });
    for (const name of ODD_NAMES)
      await writeFile(join(dir, "untracked dir", name.replace("/", "_")), "u\n");

    const status = await fixture.env.client().status(dir);
    expect(status).toBeDefined();
    expect(status?.branch).toBe("main");
    expect(status?.latestCommit).toBe(gitSync(dir, ["rev-parse", "HEAD"]).trim());
    expect([...(status?.uncommittedFiles ?? [])].sort()).toEqual(
      [...ODD_NAMES, "READ ME → renamed.md", "src/b.txt"].sort(),
    );
    expect([...(status?.untrackedFiles ?? [])].sort()).toEqual(
      ODD_NAMES.map((n) => `untracked dir/${n.replace("/", "_")}`).sort(),
    );
    expect(status?.totalUncommittedFiles).toBe(ODD_NAMES.length + 2);
    expect(status?.totalUntrackedFiles).toBe(ODD_NAMES.length);
    expect(status?.totalUnpushedCommits).toBe(1);
    expect(status?.unpushedCommits).toEqual([expect.stringMatching(/^[0-9a-f]{7,}: odd names$/)]);
  });

  it("truncates lists at maxListed (default 100) and keeps full totals", async () => {
    const dir = cloneFixture();
    for (let i = 0; i < 150; i++) await writeFile(join(dir, `file-${i}.txt`), `${i}\n`);
    const byDefault = await fixture.env.client().status(dir);
    expect(byDefault?.untrackedFiles).toHaveLength(100);
    expect(byDefault?.totalUntrackedFiles).toBe(150);
    for (let i = 0; i < 7; i++) gitSync(dir, ["commit", "-q", "--allow-empty", "-m", `local ${i}`]);
    const small = await fixture.env.client().status(dir, { maxListed: 5 });
    expect(small?.untrackedFiles).toHaveLength(5);
    expect(small?.totalUntrackedFiles).toBe(150);
    expect(small?.unpushedCommits).toHaveLength(5);
    expect(small?.totalUnpushedCommits).toBe(7);
    expect(small?.unpushedCommits[0]).toMatch(/: local 6$/); // newest first
  });

  it("counts unpushed commits on branches without upstream and on a detached HEAD", async () => {
    const dir = cloneFixture(true);
    gitSync(dir, ["checkout", "-q", "-b", "no-upstream"]);
    gitSync(dir, ["commit", "-q", "--allow-empty", "-m", "on new branch"]);
    gitSync(dir, ["checkout", "-q", "--detach"]);
    gitSync(dir, ["commit", "-q", "--allow-empty", "-m", "detached work"]);
    const head = gitSync(dir, ["rev-parse", "HEAD"]).trim();
    const status = await fixture.env.client().status(dir);
    expect(status?.branch).toBe("(detached)");
    expect(status?.latestCommit).toBe(head);
    expect(status?.totalUnpushedCommits).toBe(2);
    expect(status?.unpushedCommits.map((c) => c.replace(/^[0-9a-f]+: /, ""))).toEqual([
      "detached work",
      "on new branch",
    ]);
    // the fixture's own history is on origin: not unpushed
    expect(status?.unpushedCommits.join()).not.toContain("main:");
  });

  it("handles an empty repository with no commits", async () => {
    const dir = fixture.env.checkoutDir();
    await mkdir(dir, { recursive: true });
    gitSync(dir, ["init", "-q", "-b", "trunk"]);
    await writeFile(join(dir, "first file.txt"), "x\n");
    const status = await fixture.env.client().status(dir);
    expect(status).toEqual(
      emptyStatus({ branch: "trunk", untrackedFiles: ["first file.txt"], totalUntrackedFiles: 1 }),
    );
  });

  it("never throws for a broken repository: returns what is known", async () => {
    const dir = fixture.env.checkoutDir();
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, ".git"), "gitdir: /nonexistent/path\n");
    const status = await fixture.env.client().status(dir);
    expect(status).toEqual(emptyStatus());
    const gone = cloneFixture();
    await rename(join(gone, ".git", "HEAD"), join(gone, ".git", "HEAD.bak"));
    // without HEAD git does not see a repository: nothing is known, and nothing is thrown
    expect(await fixture.env.client().status(gone)).toEqual(emptyStatus());
  });

  it("does not run hooks or fsmonitor configured in the checkout", async () => {
    const dir = cloneFixture();
    const marker = join(fixture.env.root, "fsmonitor-ran");
    gitSync(dir, ["config", "core.fsmonitor", `touch '${marker}'; false`]);
    await writeFile(join(dir, "changed.txt"), "c\n");
    const status = await fixture.env.client().status(dir);
    expect(status?.untrackedFiles).toEqual(["changed.txt"]);
    expect(existsSync(marker)).toBe(false);
  });
});

describe("parsePorcelainV2", () => {
  it("parses headers, ordinary, rename, unmerged, untracked and ignored records", () => {
    const out = [
      "# branch.oid (initial)",
      "# branch.head my branch",
      "1 .M N... 100644 100644 100644 abc abc a b c.txt",
      "2 R. N... 100644 100644 100644 abc abc R100 new name.txt",
      "old name.txt",
      "u UU N... 100644 100644 100644 100644 a b c conflict file.txt",
      "? un tracked",
      "! ignored.log",
      "",
    ].join("\0");
    expect(parsePorcelainV2(out)).toEqual({
      head: "my branch",
      oid: "",
      uncommitted: ["a b c.txt", "new name.txt", "conflict file.txt"],
      untracked: ["un tracked"],
    });
  });
});
