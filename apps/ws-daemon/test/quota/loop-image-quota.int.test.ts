import { existsSync } from "node:fs";
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { isQuotaExceededError, LoopImageQuotaEnforcer } from "../../src/quota/index.js";
import { failed, ScriptedProcessRunner } from "../support/process-runners.js";
import {
  cleanupAll,
  errorCode,
  isMountPoint,
  isRoot,
  loopDevicesOf,
  MIB,
  makeTempDir,
  writeBytes,
} from "./quota-fixtures.js";

if (!isRoot) console.warn("[quota loop-image tests] skipped: loop devices and mount need root");

const QUOTA = 32 * MIB;

const setup = (name: string) => {
  const area = makeTempDir(name);
  // runs everything for real unless a test scripts a failure
  const runner = new ScriptedProcessRunner();
  const enforcer = new LoopImageQuotaEnforcer({ workingArea: area, runner });
  const id = `ws-${name}`;
  const dir = join(area, id);
  return { area, runner, enforcer, id, dir, image: enforcer.imagePath(id) };
};

describe.skipIf(!isRoot)("loop-image quota (real ext4 images on loop devices)", () => {
  afterAll(() => cleanupAll());

  it("hard limit from the start: writes within the quota pass, beyond it fail with ENOSPC", async () => {
    const { enforcer, id, dir, image } = setup("hard");
    const status = await enforcer.prepare(id, dir, QUOTA, { lenient: false });
    expect(status).toMatchObject({ method: "loop-image", phase: "hard", quotaBytes: QUOTA });
    // The filesystem gives at least the quota and at most 1 MiB more.
    expect(status.limitBytes).toBeGreaterThanOrEqual(QUOTA);
    expect(status.limitBytes).toBeLessThanOrEqual(QUOTA + MIB);
    expect(isMountPoint(dir)).toBe(true);
    // A fresh filesystem's lost+found would make the content root non-empty (restores need it empty).
    expect(await readdir(dir)).toEqual([]);

    await writeBytes(join(dir, "within"), QUOTA - 2 * MIB);
    const code = await errorCode(writeBytes(join(dir, "beyond"), 4 * MIB));
    expect(code).toBe("ENOSPC");
    expect(isQuotaExceededError({ code })).toBe(true);
    // The image is sparse: it does not take the whole limit up front on the working area.
    expect((await stat(image)).size).toBeGreaterThanOrEqual(QUOTA);
  });

  it("lenient while restoring, hard after enforce; content that fits stays intact", async () => {
    const { enforcer, id, dir } = setup("lenient");
    const lenient = await enforcer.prepare(id, dir, QUOTA, { sizeHint: 20 * MIB });
    expect(lenient.phase).toBe("lenient");
    expect(lenient.limitBytes).toBeGreaterThanOrEqual(2 * QUOTA);
    // Beyond the quota but within the lenient limit: a restore of legal content must not fail here.
    await writeBytes(join(dir, "restored"), QUOTA + 4 * MIB);
    await rm(join(dir, "restored"));
    await writeBytes(join(dir, "kept"), 10 * MIB);
    await writeFile(join(dir, "small.txt"), "hello");

    const hard = await enforcer.enforce(id, dir, QUOTA);
    expect(hard.phase).toBe("hard");
    expect(hard.limitBytes).toBeGreaterThanOrEqual(QUOTA);
    expect(hard.limitBytes).toBeLessThanOrEqual(QUOTA + MIB);
    expect(await readFile(join(dir, "small.txt"), "utf8")).toBe("hello");
    expect((await stat(join(dir, "kept"))).size).toBe(10 * MIB);
    expect((await readdir(dir)).sort()).toEqual(["kept", "small.txt"]);

    expect(await errorCode(writeBytes(join(dir, "more"), 18 * MIB))).toBe("ok");
    expect(await errorCode(writeBytes(join(dir, "too-much"), 8 * MIB))).toBe("ENOSPC");
    const usage = await enforcer.usage(id, dir);
    expect(usage?.phase).toBe("hard");
    expect(usage?.usedBytes).toBeGreaterThan(QUOTA - 2 * MIB);
  });

  it("content larger than the quota at enforce is kept, and nothing more can be written", async () => {
    const { enforcer, id, dir } = setup("over");
    await enforcer.prepare(id, dir, 16 * MIB);
    await writeBytes(join(dir, "big"), 24 * MIB);
    const hard = await enforcer.enforce(id, dir, 16 * MIB);
    expect(hard.limitBytes).toBeGreaterThanOrEqual(24 * MIB);
    expect(hard.limitBytes).toBeLessThanOrEqual(26 * MIB);
    expect((await stat(join(dir, "big"))).size).toBe(24 * MIB);
    expect(await errorCode(writeBytes(join(dir, "more"), 4 * MIB))).toBe("ENOSPC");
    // Deleting makes room again, up to the quota.
    await rm(join(dir, "big"));
    expect(await errorCode(writeBytes(join(dir, "after"), 12 * MIB))).toBe("ok");
  });

  it("every step is idempotent; release unmounts, detaches and deletes the image", async () => {
    const { enforcer, id, dir, image, area } = setup("idem");
    const first = await enforcer.prepare(id, dir, QUOTA);
    await writeFile(join(dir, "a.txt"), "A");
    expect(await enforcer.prepare(id, dir, QUOTA)).toEqual(first);
    expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("A");
    const hard = await enforcer.enforce(id, dir, QUOTA);
    expect(await enforcer.enforce(id, dir, QUOTA)).toEqual(hard);
    expect(loopDevicesOf(image)).toHaveLength(1);

    // Another quota on existing content would need a new image: refused rather than lose content.
    await expect(enforcer.prepare(id, dir, 2 * QUOTA)).rejects.toMatchObject({
      kind: "invalid-argument",
    });
    expect(await readFile(join(dir, "a.txt"), "utf8")).toBe("A");

    await enforcer.release(id, dir);
    expect(isMountPoint(dir)).toBe(false);
    expect(existsSync(image)).toBe(false);
    expect(loopDevicesOf(image)).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
    expect(await readdir(join(area, ".quota"))).toEqual([]);
    await enforcer.release(id, dir);
    await enforcer.release("never-prepared", join(area, "never-prepared"));
  });

  it("quota 0 means no image and no mount", async () => {
    const { enforcer, id, dir, image } = setup("zero");
    const status = await enforcer.prepare(id, dir, 0);
    expect(status.limitBytes).toBe(0);
    expect((await enforcer.enforce(id, dir, 0)).limitBytes).toBe(0);
    expect(isMountPoint(dir)).toBe(false);
    expect(existsSync(image)).toBe(false);
    expect(await enforcer.usage(id, dir)).toBeUndefined();
  });

  it("refuses to mount over a content directory that already has files", async () => {
    const { enforcer, id, dir, image } = setup("nonempty");
    await mkdir(dir);
    await writeFile(join(dir, "x"), "x");
    await expect(enforcer.prepare(id, dir, QUOTA)).rejects.toMatchObject({
      kind: "invalid-argument",
    });
    expect(existsSync(image)).toBe(false);
    await expect(enforcer.enforce(id, dir, QUOTA)).rejects.toMatchObject({
      name: "QuotaError",
      failure: "invalid-argument",
      message: `enforce before prepare for ${id}`,
    });
  });

  it("recover after a restart: remounts images whose mounts are gone, keeps live ones, reports the rest", async () => {
    const a = setup("recover");
    const { area, runner } = a;
    const b = { id: "ws-recover-b", dir: join(area, "ws-recover-b") };
    await a.enforcer.prepare(a.id, a.dir, QUOTA);
    await writeFile(join(a.dir, "file"), "content A");
    await a.enforcer.enforce(a.id, a.dir, QUOTA);
    await a.enforcer.prepare(b.id, b.dir, QUOTA);
    await writeFile(join(b.dir, "file"), "content B");
    await a.enforcer.prepare("ws-orphan", join(area, "ws-orphan"), QUOTA);

    // A daemon in its own mount namespace loses its mounts when it dies: simulate for A only.
    await runner.run("umount", [a.dir]);
    expect(isMountPoint(a.dir)).toBe(false);

    const restarted = new LoopImageQuotaEnforcer({ workingArea: area, runner });
    const plain = join(area, "ws-plain");
    await mkdir(plain);
    const report = await restarted.recover([
      { workspaceId: a.id, contentDir: a.dir },
      { workspaceId: b.id, contentDir: b.dir },
      { workspaceId: "ws-plain", contentDir: plain },
    ]);
    expect(report.recovered.sort()).toEqual([a.id, b.id].sort());
    expect(report.withoutQuota).toEqual(["ws-plain"]);
    expect(report.failed).toEqual([]);
    expect(report.orphans).toEqual(["ws-orphan"]);
    expect(await readFile(join(a.dir, "file"), "utf8")).toBe("content A");
    expect(await readFile(join(b.dir, "file"), "utf8")).toBe("content B");
    // The hard limit survived the restart (it is the filesystem's size).
    expect((await restarted.usage(a.id, a.dir))?.phase).toBe("hard");
    expect(await errorCode(writeBytes(join(a.dir, "big"), QUOTA + 2 * MIB))).toBe("ENOSPC");
    // b was still lenient: it can still be enforced by the new instance.
    expect((await restarted.enforce(b.id, b.dir, QUOTA)).phase).toBe("hard");

    // Twice is harmless: nothing is mounted a second time.
    const again = await restarted.recover([{ workspaceId: a.id, contentDir: a.dir }]);
    expect(again.recovered).toEqual([a.id]);
    expect(loopDevicesOf(a.image)).toHaveLength(1);
    await restarted.release("ws-orphan", join(area, "ws-orphan"));
  });

  it("recover refuses to hide files written to an unmounted content directory", async () => {
    const { enforcer, runner, id, dir, area } = setup("hidden");
    await enforcer.prepare(id, dir, QUOTA);
    await runner.run("umount", [dir]);
    await writeFile(join(dir, "stray"), "written while unmounted");
    const report = await new LoopImageQuotaEnforcer({ workingArea: area, runner }).recover([
      { workspaceId: id, contentDir: dir },
    ]);
    expect(report.failed).toHaveLength(1);
    expect(report.failed[0]?.error).toMatch(/refusing to hide/);
    expect(isMountPoint(dir)).toBe(false);
  });

  it("enforce while the directory is busy fails and leaves the workspace mounted and lenient", async () => {
    const { enforcer, id, dir } = setup("busy");
    await enforcer.prepare(id, dir, QUOTA);
    const handle = await open(join(dir, "held-open"), "w");
    try {
      await expect(enforcer.enforce(id, dir, QUOTA)).rejects.toThrow(/umount/);
    } finally {
      await handle.close();
    }
    expect(isMountPoint(dir)).toBe(true);
    expect((await enforcer.usage(id, dir))?.phase).toBe("lenient");
    expect((await enforcer.enforce(id, dir, QUOTA)).phase).toBe("hard");
  });

  it("enforce refuses to resize an image that is still mounted elsewhere (a container's bind mount)", async () => {
    const { enforcer, runner, id, dir, area } = setup("bind");
    await enforcer.prepare(id, dir, QUOTA);
    await writeFile(join(dir, "keep"), "kept");
    const elsewhere = join(area, "container-view");
    await mkdir(elsewhere);
    await runner.run("mount", ["--bind", dir, elsewhere]);
    try {
      await expect(enforcer.enforce(id, dir, QUOTA)).rejects.toThrow(/still in use/);
      expect(isMountPoint(dir)).toBe(true);
      expect(await readFile(join(dir, "keep"), "utf8")).toBe("kept");
      // Remounted through the same loop device, not a second one on the same image.
      expect(loopDevicesOf(enforcer.imagePath(id))).toHaveLength(1);
    } finally {
      await runner.run("umount", [elsewhere]);
    }
    expect((await enforcer.enforce(id, dir, QUOTA)).phase).toBe("hard");
  });

  it.each([
    ["e2fsck", (c: string) => c === "e2fsck", 4],
    ["resize2fs", (c: string, a: readonly string[]) => c === "resize2fs" && a[0] !== "-P", 1],
  ] as const)(
    "a failing %s during enforce fails it, remounts the content and keeps it lenient",
    async (name, match, exitCode) => {
      const { enforcer, runner, id, dir } = setup(`${name}-fault`);
      await enforcer.prepare(id, dir, QUOTA);
      await writeFile(join(dir, "keep"), "kept");
      runner.script = (command, args) =>
        match(command, args) ? failed(`injected: ${name} failed`, exitCode) : undefined;
      await expect(enforcer.enforce(id, dir, QUOTA)).rejects.toThrow(/injected/);
      runner.script = undefined;
      expect(isMountPoint(dir)).toBe(true);
      expect(await readFile(join(dir, "keep"), "utf8")).toBe("kept");
      expect((await enforcer.usage(id, dir))?.phase).toBe("lenient");
      const hard = await enforcer.enforce(id, dir, QUOTA);
      expect(hard.limitBytes).toBeLessThanOrEqual(QUOTA + MIB);
    },
  );

  it("a failing mkfs during prepare leaves no image, record or mount behind", async () => {
    const { enforcer, runner, id, dir, image, area } = setup("mkfs-fault");
    runner.script = (command) =>
      command === "mkfs.ext4" ? failed("injected: mkfs failed") : undefined;
    await expect(enforcer.prepare(id, dir, QUOTA)).rejects.toThrow(/injected/);
    expect(existsSync(image)).toBe(false);
    expect(isMountPoint(dir)).toBe(false);
    expect(await readdir(join(area, ".quota"))).toEqual([]);
    runner.script = undefined;
    expect((await enforcer.prepare(id, dir, QUOTA)).phase).toBe("lenient");
  });
});
