import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmodSync, lstatSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { createDaemonTransport, createInWorkspaceClients } from "@ws-daemon/api";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ensureHelperBuilt } from "../linux/support/helper-binary.js";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { isRoot } from "../support/env.js";

const run = promisify(execFile);

if (!isRoot) console.warn("[socket tests] skipped: need root (other uids, chown, the real kernel)");

/** Connects to `socketPath` as `uid`:`gid` (no supplementary groups); "ok" or the errno code. */
async function connectAs(uid: number, gid: number, socketPath: string): Promise<string> {
  const script = `require("node:net").connect(process.argv[1]).on("connect", function () { console.log("ok"); this.destroy(); }).on("error", (e) => console.log(e.code));`;
  const { stdout } = await run("setpriv", [
    `--reuid=${uid}`,
    `--regid=${gid}`,
    "--clear-groups",
    process.execPath,
    "-e",
    script,
    socketPath,
  ]);
  return stdout.trim();
}

/** The harness's temporary directory is 0700; other users must be able to pass through it. */
const traversable = (t: TestDaemon) => chmodSync(t.dir, 0o755);

describe.skipIf(!isRoot)("in-workspace sockets (issue 10)", () => {
  let d: TestDaemon | undefined;
  afterEach(async () => {
    await d?.stop();
    d = undefined;
  });

  it("lives in a 0700 directory of the workspace's user: another non-root uid cannot connect", async () => {
    d = await startTestDaemon({ content: { uid: 33333, gid: 33333 } });
    traversable(d);
    const { sockets } = d.daemon;
    await sockets.ensure("ws-perm");
    const dir = statSync(sockets.socketDir("ws-perm"));
    expect({ mode: dir.mode & 0o7777, uid: dir.uid, gid: dir.gid }).toEqual({
      mode: 0o700,
      uid: 33333,
      gid: 33333,
    });
    const socket = lstatSync(sockets.socketPath("ws-perm"));
    expect(socket.isSocket()).toBe(true);
    expect(socket.mode & 0o7777).toBe(0o666);
    expect(await connectAs(33333, 33333, sockets.socketPath("ws-perm"))).toBe("ok");
    expect(await connectAs(12345, 12345, sockets.socketPath("ws-perm"))).toBe("EACCES");
    // even a member of the workspace's group is not let in
    expect(await connectAs(12345, 33333, sockets.socketPath("ws-perm"))).toBe("EACCES");
  });

  it("logs each call's caller: pid, uid and gid from SO_PEERCRED", async () => {
    d = await startTestDaemon({ linux: { nsHelperPath: ensureHelperBuilt() } });
    traversable(d);
    const socketPath = await d.daemon.sockets
      .ensure("ws-peer")
      .then(() => d?.daemon.sockets.socketPath("ws-peer") ?? "");
    // a Connect call over HTTP/1.1, from a process of the workspace's user (its status written
    // plainly: console.log colours a number when FORCE_COLOR is set, as under nx)
    const script = `const r = require("node:http").request({ socketPath: process.argv[1], path: "/iws.WorkspaceInfoService/WorkspaceInfo", method: "POST", headers: { "content-type": "application/json" } }, (res) => { res.resume(); res.on("end", () => process.stdout.write(String(res.statusCode))); }); r.end("{}");`;
    const caller = spawn(
      "setpriv",
      [
        "--reuid=33333",
        "--regid=33333",
        "--clear-groups",
        process.execPath,
        "-e",
        script,
        socketPath,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    caller.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    await new Promise((resolve) => caller.once("close", resolve));
    expect(out.trim()).toMatch(/^\d{3}$/);
    const line = d.logs.find((l) => l.msg === "in-workspace caller");
    expect(line).toMatchObject({
      peerPid: caller.pid,
      peerUid: 33333,
      peerGid: 33333,
      workspaceId: "ws-peer",
      method: "/iws.WorkspaceInfoService/WorkspaceInfo",
    });
    // gRPC over HTTP/2 from this process (root)
    const before = d.logs.length;
    const { workspaceInfo } = createInWorkspaceClients(
      createDaemonTransport({ address: `unix://${socketPath}` }),
    );
    await workspaceInfo.workspaceInfo({}).catch(() => undefined);
    expect(d.logs.slice(before).find((l) => l.msg === "in-workspace caller")).toMatchObject({
      peerPid: process.pid,
      peerUid: 0,
      peerGid: 0,
    });
  });

  it("takes the owner from sockets.uid/gid when set (user-namespaced containers)", async () => {
    d = await startTestDaemon({ sockets: { uid: 133332, gid: 133332 } });
    traversable(d);
    await d.daemon.sockets.ensure("ws-userns");
    const dir = statSync(d.daemon.sockets.socketDir("ws-userns"));
    expect([dir.uid, dir.gid]).toEqual([133332, 133332]);
    expect(await connectAs(133332, 133332, d.daemon.sockets.socketPath("ws-userns"))).toBe("ok");
    expect(await connectAs(33333, 33333, d.daemon.sockets.socketPath("ws-userns"))).toBe("EACCES");
  });

  describe("attack: the socket swapped for a symlink while the daemon sets it up", () => {
    let scratch: string;
    let canary: string;
    let attacker: ChildProcess | undefined;
    beforeAll(() => {
      scratch = mkdtempSync(path.join(tmpdir(), "wsd-sock-swap-"));
      canary = path.join(scratch, "canary");
      writeFileSync(canary, "host file\n", { mode: 0o600 });
    });
    afterAll(() => {
      attacker?.kill("SIGKILL");
      rmSync(scratch, { recursive: true, force: true });
    });

    it("never changes the mode of what the link points to", async () => {
      d = await startTestDaemon();
      const { sockets } = d.daemon;
      const root = path.dirname(sockets.socketDir("x"));
      // What a workspace that can write its socket directory does, as fast as it can: replace
      // daemon.sock by a link to a file of the host (rename is atomic, so the path is never
      // missing). It runs as root here, the strongest such workspace, in every socket directory.
      attacker = spawn(
        "sh",
        [
          "-c",
          `while :; do for d in "$1"/ws-*; do ln -sfn "$2" "$d/.l" 2>/dev/null && mv -Tf "$d/.l" "$d/daemon.sock" 2>/dev/null; done; done`,
          "sh",
          root,
          canary,
        ],
        { stdio: "ignore" },
      );
      const bind = (id: string) =>
        sockets.ensure(id).then(
          () => true,
          () => false,
        );
      let bound = 0;
      for (let round = 0; round < 200; round++) {
        // a bind can lose against the link (EADDRINUSE): that is the attacker's own loss
        if (await bind(`ws-swap-${round}`)) bound++;
        expect(statSync(canary).mode & 0o7777, `round ${round}`).toBe(0o600);
      }
      attacker.kill("SIGKILL");
      expect(bound).toBeGreaterThan(0);
      expect(statSync(canary).mode & 0o7777).toBe(0o600);
    });
  });
});
