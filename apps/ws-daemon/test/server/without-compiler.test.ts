/**
 * A machine without a C compiler (macOS, a slim image): the helper build is skipped with one
 * line, the daemon starts and serves the content API. A machine without zstd: the daemon refuses
 * to start and says what to install.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Code, createDaemonTransport, createInWorkspaceClients, statusOf } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon } from "../support/daemon-process.js";

const BUILD_SCRIPT = fileURLToPath(new URL("../../native/build.sh", import.meta.url));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "wsd-no-cc-"));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("without a C compiler", () => {
  it("the helper build prints one line and succeeds; the daemon serves content calls", async () => {
    const out = path.join(dir, "native");
    const build = spawnSync("bash", [BUILD_SCRIPT, out], {
      encoding: "utf8",
      env: { ...process.env, CC: "/nonexistent/cc" },
    });
    expect(build.status).toBe(0);
    expect(build.stdout.trim().split("\n")).toEqual([
      expect.stringMatching(
        /^\[native\] wsd-nshelper not built: no C compiler "\/nonexistent\/cc"/,
      ),
    ]);
    const helper = path.join(out, "wsd-nshelper");
    expect(existsSync(helper)).toBe(false);

    const sleeper = spawn("sleep", ["60"], { stdio: "ignore" });
    const daemon = await spawnDaemon(dir, [
      `--linux.nsHelperPath=${helper}`,
      `--runtime.workspaces.ws-1=${sleeper.pid}`,
    ]);
    try {
      const { content } = daemon.clients();
      await content.initWorkspace({
        id: "ws-1",
        metadata: { owner: "o", metaId: "m" },
        initializer: { spec: { case: "empty", value: {} } },
      });
      expect((await content.isWorkspaceExists({ id: "ws-1" })).exists).toBe(true);
      expect(daemon.lines.some((l) => l.includes("namespace helper missing"))).toBe(true);

      // the in-workspace API says what is missing instead of failing obscurely
      const socket = path.join(dir, ".ws-daemon-data/workspaces/.sockets/ws-1/daemon.sock");
      const { inWorkspace } = createInWorkspaceClients(
        createDaemonTransport({ address: `unix://${socket}` }),
      );
      const err = await inWorkspace
        .mountProc({ pid: BigInt(sleeper.pid ?? 0), target: "/proc" })
        .catch((e) => statusOf(e));
      expect(err).toMatchObject({
        code: Code.FailedPrecondition,
        message: expect.stringContaining(`the namespace helper ${helper} is missing`),
      });
    } finally {
      sleeper.kill();
      daemon.child.kill("SIGTERM");
      await daemon.exited;
    }
  });
});

describe("without zstd", () => {
  it("refuses to start with exit code 2, naming what to install", async () => {
    const bin = path.join(dir, "bin");
    await mkdir(bin);
    for (const tool of ["git", "sh"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], {
        encoding: "utf8",
      }).stdout.trim();
      await symlink(found, path.join(bin, tool));
    }
    const daemon = spawnDaemon(dir, [], { ...process.env, PATH: bin });
    await expect(daemon).rejects.toThrow(/daemon exited with 2/);
    await expect(daemon).rejects.toThrow(
      "ws-daemon: cannot start: zstd is missing (needed for snapshots, backups and restores; e.g. apt-get install zstd)",
    );
  });
});
