import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Log, LogFields, LogLevel } from "../../src/platform/index.js";
import { parseMountInfo } from "../../src/quota/mount-info.js";

export { isRoot } from "../support/env.js";

import { isRoot } from "../support/env.js";
export const MIB = 1024 * 1024;

/** Directories made by this test file; `cleanupAll` unmounts and detaches everything below them. */
const created: string[] = [];

export const makeTempDir = (prefix: string): string => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), `quota-test-${prefix}-`)));
  created.push(dir);
  return dir;
};

const run = (command: string, args: string[]): string => {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch {
    return "";
  }
};

const mountsBelow = (dir: string): string[] =>
  parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"))
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    // deepest first
    .sort((a, b) => b.length - a.length);

const imagesBelow = (dir: string): string[] => {
  const found: string[] = [];
  const walk = (d: string, depth: number) => {
    if (depth > 3) return;
    let entries: import("node:fs").Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p, depth + 1);
      else if (e.name.endsWith(".img")) found.push(p);
    }
  };
  walk(dir, 0);
  return found;
};

/** Unmounts every mount below the dir, detaches loop devices of images below it, removes it. */
export const cleanupDir = (dir: string): void => {
  for (let i = 0; i < 3; i++) {
    const mounts = mountsBelow(dir);
    if (mounts.length === 0) break;
    for (const m of mounts) run("umount", ["-l", m]);
  }
  for (const image of imagesBelow(dir)) {
    for (const device of loopDevicesOf(image)) run("losetup", ["-d", device]);
  }
  for (const m of mountsBelow(dir)) run("umount", ["-l", m]);
  rmSync(dir, { recursive: true, force: true });
};

export const cleanupAll = (): void => {
  // Outer directories last: an XFS area holds content mounts.
  for (const dir of created.splice(0).reverse()) cleanupDir(dir);
};

export const loopDevicesOf = (image: string): string[] =>
  run("losetup", ["-j", image])
    .split("\n")
    .map((l) => /^(\/dev\/loop\d+):/.exec(l)?.[1])
    .filter((d): d is string => d !== undefined);

export const isMountPoint = (dir: string): boolean => mountsBelow(dir).includes(dir);

/** Writes `bytes` in 1 MiB chunks with fsync so ENOSPC/EDQUOT shows up here and not later. */
export const writeBytes = async (path: string, bytes: number, flags = "w"): Promise<void> => {
  const handle = await open(path, flags);
  try {
    const chunk = Buffer.alloc(MIB, 0x5a);
    let left = bytes;
    while (left > 0) {
      const n = Math.min(left, MIB);
      await handle.write(chunk, 0, n);
      left -= n;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
};

export const errorCode = async (work: Promise<unknown>): Promise<string> =>
  work.then(
    () => "ok",
    (err: NodeJS.ErrnoException) => err.code ?? String(err),
  );

/** A log that keeps its lines for assertions. */
export const collectLog = () => {
  const lines: { level: LogLevel; message: string; fields: LogFields }[] = [];
  const log: Log = (level, message, fields = {}) => lines.push({ level, message, fields });
  return { lines, log };
};

export interface XfsArea {
  ok: boolean;
  /** Mount point of the test XFS filesystem (when ok). */
  mountPoint: string;
  reason: string;
}

/**
 * A loop-mounted XFS filesystem in a temp dir, made synchronously so test files can decide
 * `skipIf` at collection time. `options` e.g. "prjquota".
 */
export const mountTestXfs = (name: string, options: string | undefined): XfsArea => {
  if (!isRoot) return { ok: false, mountPoint: "", reason: "not root" };
  if (run("mkfs.xfs", ["-V"]) === "") {
    return { ok: false, mountPoint: "", reason: "mkfs.xfs is missing (apt-get install xfsprogs)" };
  }
  const dir = makeTempDir(name);
  const image = join(dir, "xfs.img");
  const mountPoint = join(dir, "mnt");
  try {
    execFileSync("truncate", ["-s", "512M", image]);
    execFileSync("mkfs.xfs", ["-q", image]);
    execFileSync("mkdir", [mountPoint]);
    execFileSync(
      "mount",
      ["-t", "xfs", "-o", options ? `loop,${options}` : "loop", image, mountPoint],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    return { ok: true, mountPoint, reason: "" };
  } catch (err) {
    // A skipped suite runs no afterAll: the 512 MiB image goes now, not with cleanupAll.
    cleanupDir(dir);
    const dmesg = run("dmesg", [])
      .split("\n")
      .filter((l) => l.includes("XFS"))
      .slice(-1)[0];
    return {
      ok: false,
      mountPoint: "",
      reason: `mounting XFS with "${options}" failed: ${String((err as Error).message).split("\n")[0]}${dmesg ? ` (kernel: ${dmesg.trim()})` : ""}`,
    };
  }
};
