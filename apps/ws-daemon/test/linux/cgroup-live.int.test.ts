import { mkdir, mkdtemp, readFile, rmdir, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectCgroupLayout } from "../../src/linux/cgroup-layout.js";
import { readProcCgroup } from "../../src/platform/index.js";
import { type FakeContainer, isRoot, sh, startContainer } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const layout = await detectCgroupLayout();
const hasV1 = ["cpu", "cpuacct", "memory"].every((c) => layout.v1Mounts[c]);
if (isRoot && !hasV1)
  console.warn(
    "[cgroup tests] skipping v1 part: cpu/cpuacct/memory v1 hierarchies are not mounted",
  );

async function allPids(c: FakeContainer): Promise<number[]> {
  return [c.rootPid, ...(await c.descendants()).map((d) => d.hostPid)];
}

async function moveAll(c: FakeContainer, dir: string): Promise<void> {
  for (const pid of await allPids(c))
    await writeFile(`${dir}/cgroup.procs`, String(pid)).catch(() => {});
}

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

/** Reads until the text matches (the kernel freezes and kills asynchronously); the last read. */
async function readUntil(read: () => Promise<string>, pattern: RegExp): Promise<string> {
  let text = "";
  for (let i = 0; i < 200; i++) {
    text = await read();
    if (pattern.test(text)) break;
    await sleep(10);
  }
  return text;
}

const events = (dir: string) => () => readFile(join(dir, "cgroup.events"), "utf8");

describe.skipIf(!isRoot || !hasV1)("WorkspaceInfo on this VM's real cgroup v1 hierarchy", () => {
  let c: FakeContainer;
  const dirs: Record<string, string> = {};
  beforeAll(async () => {
    const own = await readProcCgroup(process.pid);
    const name = `wsd-test-${process.pid}-${Date.now()}`;
    for (const ctrl of ["cpu", "cpuacct", "memory"]) {
      // below our own cgroup, so the test stays inside whatever accounting it runs under
      dirs[ctrl] = join(layout.v1Mounts[ctrl] as string, own.v1[ctrl] ?? "/", name);
      await mkdir(dirs[ctrl] as string);
    }
    await writeFile(`${dirs.cpu}/cpu.cfs_period_us`, "100000");
    await writeFile(`${dirs.cpu}/cpu.cfs_quota_us`, "50000");
    await writeFile(`${dirs.memory}/memory.limit_in_bytes`, String(256 * 1024 * 1024));
    // the busy loop starts after a pause, by when the whole tree has been moved into the cgroups
    c = await startContainer(["sh -c 'sleep 0.5; while :; do :; done' busy-3661"], ["busy-3661"]);
    for (const d of Object.values(dirs)) await moveAll(c, d);
  });
  afterAll(async () => {
    await c?.stop();
    for (const d of Object.values(dirs)) await rmdirWhenEmpty(d);
  });

  it("reports the quota in millicores, the memory limit in bytes, and real CPU use", async () => {
    const { ws } = workspaceFor(c.rootPid, { resourceSampleMs: 400 });
    await sleep(600); // let the busy loop start
    const r = await ws.workspaceInfo();
    expect(r.cpu.limit).toBe(500);
    expect(r.memory.limit).toBe(256 * 1024 * 1024);
    expect(r.cpu.used).toBeGreaterThan(0);
    expect(r.cpu.used).toBeLessThanOrEqual(r.cpu.limit + 200); // throttled by the quota
    expect(r.memory.used).toBeGreaterThanOrEqual(0);
    expect(r.memory.used).toBeLessThanOrEqual(r.memory.limit);
  });

  it("EvacuateCGroup is an honest no-op on v1/hybrid", async () => {
    const { ws } = workspaceFor(c.rootPid);
    const out = await ws.evacuateCgroup();
    expect(out.evacuated).toBe(false);
    if (!out.evacuated) expect(out.reason).toMatch(/cgroup (v1|hybrid)/);
  });
});

describe.skipIf(!isRoot)("EvacuateCGroup on a real cgroup2 mount (grouping, freeze, kill)", () => {
  let c: FakeContainer;
  let mnt: string;
  let cg: string;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), "wsd-cg2-"));
    await sh("mount", ["-t", "cgroup2", "none", mnt]);
    const own = (await readProcCgroup(process.pid)).unified ?? "/";
    cg = join(mnt, own, `wsd-test-${process.pid}-${Date.now()}`);
    await mkdir(cg);
    c = await startContainer(["sleep 3671", "sleep 3672"], ["sleep 3671", "sleep 3672"]);
    await moveAll(c, cg);
  });
  afterAll(async () => {
    await c?.stop();
    for (const d of [join(cg, "workspace/user"), join(cg, "workspace"), cg])
      await rmdirWhenEmpty(d);
    await sh("umount", [mnt]).catch(() => {});
    await rmdir(mnt).catch(() => {});
  });

  it("moves every process into the leaf and delegates the sub-tree", async () => {
    const { ws } = workspaceFor(c.rootPid, {
      cgroupLayout: { version: "v2", unifiedMount: mnt, v1Mounts: {} },
      evacuation: { delegateTo: { uid: 33333, gid: 33333 } },
    });
    const before = (await allPids(c)).sort();
    const out = await ws.evacuateCgroup();
    expect(out.evacuated).toBe(true);
    if (!out.evacuated) return;
    expect(out.subtree).toBe(join(cg, "workspace"));
    expect(out.moved).toBe(before.length);
    expect((await readFile(join(cg, "cgroup.procs"), "utf8")).trim()).toBe("");
    const inLeaf = (await readFile(join(cg, "workspace/user/cgroup.procs"), "utf8"))
      .trim()
      .split("\n")
      .map(Number)
      .sort();
    expect(inLeaf).toEqual(before);
    // controllers available here were enabled (this VM's unified hierarchy may have none)
    const available = (await readFile(join(cg, "cgroup.controllers"), "utf8"))
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    expect(out.enabledControllers).toEqual(expect.arrayContaining(available));
    expect((await stat(join(cg, "workspace/cgroup.procs"))).uid).toBe(33333);
    expect((await stat(join(cg, "workspace"))).gid).toBe(33333);
  });

  it("the delegated tree can be frozen and killed as a group", async () => {
    const leaf = join(cg, "workspace/user");
    await writeFile(join(leaf, "cgroup.freeze"), "1");
    expect(await readUntil(events(leaf), /frozen 1/)).toMatch(/frozen 1/);
    await writeFile(join(leaf, "cgroup.freeze"), "0");
    const workspace = join(cg, "workspace");
    await writeFile(join(workspace, "cgroup.kill"), "1");
    expect(await readUntil(events(workspace), /populated 0/)).toMatch(/populated 0/);
    // gone, or a zombie waiting for its launcher to reap it
    const rootState = () =>
      readFile(`/proc/${c.rootPid}/status`, "utf8").then(
        (t) => /^State:\s+(\S)/m.exec(t)?.[1] ?? "?",
        () => "gone",
      );
    const state = await readUntil(rootState, /^(gone|Z)$/);
    expect(["gone", "Z"]).toContain(state);
  });
});
