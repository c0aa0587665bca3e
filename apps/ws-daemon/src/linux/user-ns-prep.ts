import { release } from "node:os";
import { readFilesystemsText, readMountInfoText } from "../platform/index.js";
import { failedPrecondition } from "./errors.js";
import { type NsHelper, NsHelperError } from "./ns-helper.js";

/** How the workspace's files get shifted into its user namespace's id range. */
export type FsShiftMethod = "idmapped" | "shiftfs";

export interface UserNsPreparation {
  method: FsShiftMethod;
  /** Whether the container's root mount was already shared; teardown restores "private" if not. */
  rootWasShared: boolean;
}

export interface UserNsPrepOptions {
  kernelRelease?: string;
  procFilesystems?: string;
}

/** True when `rel` (e.g. "6.18.44-fc") is at least major.minor. */
export function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** Whether the root mount of the pid's mount namespace has a shared peer group. */
export async function rootMountIsShared(hostPid: number): Promise<boolean> {
  const info = await readMountInfoText(hostPid);
  // the last entry for "/" is the one on top (the visible root)
  const roots = info.split("\n").filter((l) => l.split(" ")[4] === "/");
  const line = roots.at(-1) ?? "";
  const optional = line.split(" - ")[0]?.split(" ").slice(6) ?? [];
  return optional.some((o) => o.startsWith("shared:"));
}

/**
 * Picks the FS shift method: ID-mapped mounts when the kernel has them (>= 5.12) and a real
 * probe on the container's root filesystem succeeds; shiftfs only where the kernel lists it;
 * otherwise FAILED_PRECONDITION naming why each was ruled out.
 */
export async function chooseFsShiftMethod(
  helper: NsHelper,
  rootPid: number,
  opts: UserNsPrepOptions = {},
): Promise<FsShiftMethod> {
  const rel = opts.kernelRelease ?? release();
  const reasons: string[] = [];
  if (kernelAtLeast(rel, 5, 12)) {
    try {
      await helper.probeIdmap(rootPid, "/");
      return "idmapped";
    } catch (err) {
      if (!(err instanceof NsHelperError)) throw err;
      reasons.push(`ID-mapped mount probe on the container root failed (${err.message})`);
    }
  } else {
    reasons.push(`kernel ${rel} is older than 5.12 (no ID-mapped mounts)`);
  }
  const filesystems = opts.procFilesystems ?? (await readFilesystemsText());
  if (filesystems.split("\n").some((l) => l.trim().split(/\s+/).pop() === "shiftfs"))
    return "shiftfs";
  reasons.push("shiftfs is not in /proc/filesystems");
  throw failedPrecondition(`no FS shift method available: ${reasons.join("; ")}`);
}

/**
 * PrepareForUserNS: choose the shift method first (so a failure changes nothing), then make the
 * container's root mount shared so mounts made later for the workspace propagate into it.
 */
export async function prepareForUserNS(
  helper: NsHelper,
  rootPid: number,
  opts: UserNsPrepOptions = {},
): Promise<UserNsPreparation> {
  const method = await chooseFsShiftMethod(helper, rootPid, opts);
  const rootWasShared = await rootMountIsShared(rootPid);
  if (!rootWasShared) await helper.makeShared(rootPid, "/");
  return { method, rootWasShared };
}

/** Undoes prepareForUserNS's propagation change. */
export async function undoPrepareForUserNS(
  helper: NsHelper,
  rootPid: number,
  prep: UserNsPreparation,
): Promise<void> {
  if (!prep.rootWasShared) await helper.makePrivate(rootPid, "/");
}
