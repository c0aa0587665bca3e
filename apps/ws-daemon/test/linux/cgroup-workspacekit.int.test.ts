import { mkdir, mkdtemp, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readProcCgroup } from "../../src/platform/index.js";
import { type FakeContainer, isRoot, sh, startContainer } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const pidsOf = async (dir: string) =>
  (await readFile(join(dir, "cgroup.procs"), "utf8"))
    .trim()
    .split("\n")
    .filter(Boolean)
    .map(Number)
    .sort();

async function rmdirWhenEmpty(dir: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return;
      if (code !== "EBUSY") throw err;
      await sleep(20);
    }
  }
}

/**
 * workspacekit's cgroup sequence on cgroup v2 (issue 11): PrepareForUserNS moves the container
 * into `<cg>/workspace` (ring1's cgroup namespace root), EvacuateCGroup moves it on into
 * `workspace/user`, enables the controllers and hands the sub-tree to ring1's root (host 33333).
 * This VM is cgroup v1 hybrid: a cgroup2 hierarchy is mounted for the test (grouping works; the
 * v1 no-op is tested in cgroup-live.int.test.ts).
 */
describe.skipIf(!isRoot)("PrepareForUserNS + EvacuateCGroup on a real cgroup2 mount", () => {
  let c: FakeContainer;
  let mnt: string;
  let cg: string;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), "wsd-cg2-wk-"));
    await sh("mount", ["-t", "cgroup2", "none", mnt]);
    const own = (await readProcCgroup(process.pid)).unified ?? "/";
    cg = join(mnt, own, `wsd-wk-${process.pid}-${Date.now()}`);
    await mkdir(cg);
    c = await startContainer(["sleep 3681"], ["sleep 3681"]);
    for (const pid of [c.rootPid, ...(await c.descendants()).map((d) => d.hostPid)])
      await writeFile(join(cg, "cgroup.procs"), String(pid)).catch(() => {});
  });
  afterAll(async () => {
    await c?.stop();
    for (const d of [join(cg, "workspace/user"), join(cg, "workspace"), cg])
      await rmdirWhenEmpty(d);
    await sh("umount", [mnt]).catch(() => {});
    await rmdir(mnt).catch(() => {});
  });

  it("PrepareForUserNS creates the workspace cgroup and moves the container into it", async () => {
    const before = await pidsOf(cg);
    expect(before.length).toBeGreaterThan(1);
    const { ws } = workspaceFor(c.rootPid, {
      cgroupLayout: { version: "v2", unifiedMount: mnt, v1Mounts: {} },
    });
    await ws.prepareForUserNS();
    expect(await pidsOf(cg)).toEqual([]);
    expect(await pidsOf(join(cg, "workspace"))).toEqual(before);
    await ws.teardown();
  });

  it("EvacuateCGroup moves them on into workspace/user and delegates the sub-tree to 33333", async () => {
    const before = await pidsOf(join(cg, "workspace"));
    const { ws } = workspaceFor(c.rootPid, {
      cgroupLayout: { version: "v2", unifiedMount: mnt, v1Mounts: {} },
      evacuation: { delegateTo: { uid: 33333, gid: 33333 } },
    });
    const out = await ws.evacuateCgroup();
    expect(out).toMatchObject({ evacuated: true, subtree: join(cg, "workspace") });
    expect(await pidsOf(join(cg, "workspace"))).toEqual([]);
    expect(await pidsOf(join(cg, "workspace/user"))).toEqual(before);
    for (const p of [
      "workspace",
      "workspace/cgroup.procs",
      "workspace/cgroup.subtree_control",
      "workspace/user",
    ]) {
      const st = await stat(join(cg, p));
      expect({ p, uid: st.uid, gid: st.gid }).toEqual({ p, uid: 33333, gid: 33333 });
    }
    // the container's cgroup itself stays root's: the workspace cannot lift its own limits
    expect((await stat(join(cg, "cgroup.procs"))).uid).toBe(0);
  });
});
