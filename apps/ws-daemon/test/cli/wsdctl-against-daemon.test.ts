/**
 * wsdctl as an operator runs it, against the real daemon: init from a local git repository with
 * --watch, snapshot with --watch, list, dispose with the git status, then the exit codes of a
 * failure. The CLI runs as a child process (asynchronously: the daemon runs in this process).
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { createFixtureRepo, type FixtureRepo } from "../support/git-repo-fixtures.js";

const require = createRequire(import.meta.url);
// the CLI's source through tsx: the test needs no earlier build of @ws-daemon/cli
const CLI = path.join(
  path.dirname(require.resolve("@ws-daemon/cli/package.json")),
  "src",
  "wsdctl.ts",
);

let d: TestDaemon;
let repo: FixtureRepo;
let repoRoot: string;
beforeAll(async () => {
  d = await startTestDaemon();
  repoRoot = await mkdtemp(path.join(tmpdir(), "wsdctl-e2e-"));
  repo = await createFixtureRepo(repoRoot, "project");
});
afterAll(async () => {
  await d.stop();
  await rm(repoRoot, { recursive: true, force: true });
});

function wsdctl(
  ...args: string[]
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", require.resolve("tsx"), CLI, "--address", d.daemon.address, ...args],
      { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("wsdctl against the daemon", () => {
  it("init --watch, snapshot --watch, list, dispose: output and exit codes", async () => {
    const init = await wsdctl(
      "init",
      "git",
      "ws-cli",
      "--owner",
      "alice",
      "--meta-id",
      "project",
      "--remote",
      `file://${repo.bare}`,
      "--checkout-location",
      "project",
      "--watch",
    );
    expect(init.stderr).toContain("ws-cli: init cloning (git: project)");
    expect(init.stderr).toContain("ws-cli: setting-up -> available");
    expect(init.stderr).toMatch(/ws-cli: init done in \d/);
    expect(init).toMatchObject({ code: 0, stdout: "ws-cli is ready\n" });

    await writeFile(
      path.join(d.daemon.manager.contentDir("ws-cli"), "project", "notes.txt"),
      "wip\n",
    );

    const snapshot = await wsdctl("snapshot", "ws-cli", "--watch");
    expect(snapshot.code, snapshot.stderr).toBe(0);
    expect(snapshot.stdout).toMatch(/^wsd-snapshot:workspaces\/alice\/project\/snapshots\/\S+\n$/);
    expect(snapshot.stderr).toMatch(/ws-cli: snapshot archiving \d+%/);
    expect(snapshot.stderr).toContain("ws-cli: snapshot done in");

    const list = await wsdctl("list");
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^ws-cli\s+alice\/project\s+available\s+\S+ \S+\s+-\s+-$/m);
    const json = await wsdctl("list", "-o", "json");
    expect(JSON.parse(json.stdout)).toMatchObject({
      workspaces: [
        { id: "ws-cli", state: "AVAILABLE", metadata: { owner: "alice", metaId: "project" } },
      ],
    });

    const dispose = await wsdctl("dispose", "ws-cli", "--watch");
    expect(dispose.code, dispose.stderr).toBe(0);
    const head = repo.commits.main?.at(-1);
    expect(dispose.stdout).toBe(
      [
        `branch main at ${head}`,
        "uncommitted files: 0",
        "untracked files: 1",
        "  notes.txt",
        "unpushed commits: 0",
        "",
      ].join("\n"),
    );
    expect(dispose.stderr).toContain("ws-cli: dispose git-status");
    expect(dispose.stderr).toContain("ws-cli: removed");

    const gone = await wsdctl("get", "ws-cli");
    expect(gone).toMatchObject({ code: 69, stdout: "" });
    expect(gone.stderr).toMatch(/^NOT_FOUND: /);
    const badInit = await wsdctl(
      "init",
      "snapshot",
      "ws-cli-2",
      "--owner",
      "alice",
      "--meta-id",
      "project",
      "--snapshot",
      "wsd-snapshot:workspaces/alice/project/snapshots/20200101T000000000Z-00000000",
    );
    expect(badInit.code).toBe(69);
    expect(badInit.stderr).toMatch(/^NOT_FOUND: .*does not exist/);
    expect((await wsdctl("health")).stdout).toBe("SERVING\n");
  });
});
