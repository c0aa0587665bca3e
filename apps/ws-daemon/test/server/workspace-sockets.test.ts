import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

let d: TestDaemon | undefined;
afterEach(async () => {
  await d?.stop();
  d = undefined;
});

const accepts = (socketPath: string) =>
  new Promise<boolean>((resolve) => {
    const s = connect(socketPath);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });

it("a workspace re-created while its old socket is being removed keeps the new socket", async () => {
  d = await startTestDaemon();
  const sockets = d.daemon.sockets;
  const id = "ws-again";
  await sockets.ensure(id);
  for (let i = 0; i < 5; i++) {
    // dispose's removal and the next init's ensure, racing as they do in the daemon
    const removed = sockets.remove(id);
    const started = sockets.ensure(id);
    await Promise.all([removed, started]);
    expect(existsSync(sockets.socketPath(id)), `round ${i}`).toBe(true);
    expect(await accepts(sockets.socketPath(id)), `round ${i}`).toBe(true);
  }
  await sockets.remove(id);
  expect(existsSync(sockets.socketDir(id))).toBe(false);
});

it("removing a socket directory never follows what the workspace planted in it", async () => {
  // the directory is mounted into the workspace, which may fill it with links to anything
  d = await startTestDaemon();
  const sockets = d.daemon.sockets;
  const id = "ws-planted";
  await sockets.ensure(id);
  const canary = await mkdtemp(join(tmpdir(), "wsd-socket-canary-"));
  try {
    await writeFile(join(canary, "keep"), "canary");
    const dir = sockets.socketDir(id);
    await symlink(canary, join(dir, "link"));
    await mkdir(join(dir, "sub"));
    await symlink(canary, join(dir, "sub", "deeper"));
    await sockets.remove(id);
    expect(existsSync(dir)).toBe(false);
    expect(await readdir(canary)).toEqual(["keep"]);
  } finally {
    await rm(canary, { recursive: true, force: true });
  }
});
