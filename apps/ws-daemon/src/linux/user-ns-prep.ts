import { release } from "node:os";
import { readFilesystemsText, readMountInfoText } from "../platform/index.js";
import { failedPrecondition } from "./errors.js";
import { type IdMapping, WORKSPACEKIT_ID_MAPPING } from "./id-mapping.js";
import { type NsHelper, NsHelperError } from "./ns-helper.js";

/** How the workspace's files get shifted into its user namespace's id range. */
export type FsShiftMethod = "idmapped" | "shiftfs";

export interface UserNsPreparation {
  method: FsShiftMethod;
  /** Whether the container's root mount was already shared; teardown restores "private" if not. */
  rootWasShared: boolean;
  /** Where the mark is mounted in the container (absent when `markPath` was not configured). */
  mark?: string;
  /** Device nodes (and /dev/net) this preparation created, for teardown. */
  createdDevices?: string[];
}

export interface UserNsPrepOptions {
  kernelRelease?: string;
  procFilesystems?: string;
  /**
   * Where the shifted container root goes inside the container (workspacekit reads
   * `/.workspace/mark`); unset: no mark, no devices (only the shift method and propagation).
   */
  markPath?: string;
  /** The user namespace the ID-mapped mark uses; default workspacekit's ring1 mapping. */
  markMapping?: readonly IdMapping[];
  /** Owner of /dev/net/tun and /dev/fuse (upstream: 33333). */
  deviceOwner?: { uid: number; gid: number };
}

/** True when `rel` (e.g. "6.18.44-fc") is at least major.minor. */
export function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** The filesystem type of the root mount the pid sees (e.g. "overlay", "ext4"). */
export async function rootFsType(hostPid: number): Promise<string | undefined> {
  const info = await readMountInfoText(hostPid);
  const line = info
    .split("\n")
    .filter((l) => l.split(" ")[4] === "/")
    .at(-1);
  return line?.split(" - ")[1]?.split(" ")[0];
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
  // Gitpod's nodes always have overlayfs container roots and need shiftfs for them: upstream
  // answers Internal "cannot mount shiftfs mark" here and workspacekit's ring0 exits.
  const rootFs = await rootFsType(rootPid).catch(() => undefined);
  const upstream =
    rootFs === "overlay"
      ? '; the container root is overlayfs, which this kernel cannot ID-map: upstream fails here too (Internal "cannot mount shiftfs mark", workspacekit\'s ring0 exits); nothing was changed'
      : "";
  throw failedPrecondition(`no FS shift method available: ${reasons.join("; ")}${upstream}`);
}

const mapArg = (mapping: readonly IdMapping[]) =>
  mapping.map((m) => `${m.containerId} ${m.hostId} ${m.size}`).join(",");

/**
 * PrepareForUserNS, what workspacekit's ring0 relies on: choose the shift method first (so a
 * failure changes nothing), make the container's root mount shared (upstream: make-shared /),
 * mount the mark (the container root ID-mapped through ring1's mapping, or a shiftfs mark) and
 * create /dev/net/tun and /dev/fuse (upstream's prepare-dev; after the mark, so a container
 * without the mark's directory is left untouched). A later step's failure undoes the earlier ones.
 */
export async function prepareForUserNS(
  helper: NsHelper,
  rootPid: number,
  opts: UserNsPrepOptions = {},
): Promise<UserNsPreparation> {
  const method = await chooseFsShiftMethod(helper, rootPid, opts);
  const rootWasShared = await rootMountIsShared(rootPid);
  if (!rootWasShared) await helper.makeShared(rootPid, "/");
  const prep: UserNsPreparation = { method, rootWasShared };
  if (opts.markPath === undefined) return prep;
  try {
    try {
      await helper.mark(
        rootPid,
        method,
        opts.markPath,
        mapArg(opts.markMapping ?? WORKSPACEKIT_ID_MAPPING),
      );
    } catch (err) {
      if (err instanceof NsHelperError && err.step === "open target") {
        throw failedPrecondition(
          `the mark's mount point ${opts.markPath} cannot be made in the workspace container (${err.kernelMessage}): mount the workspace's socket directory at its parent`,
        );
      }
      throw err;
    }
    prep.mark = opts.markPath;
    const owner = opts.deviceOwner ?? { uid: 33333, gid: 33333 };
    const dev = await helper.prepareDev(rootPid, owner.uid, owner.gid);
    prep.createdDevices = (["netdir", "tun", "fuse"] as const).filter(
      (k) => dev[k === "netdir" ? "netDir" : k] === true,
    );
    return prep;
  } catch (err) {
    await undoPrepareForUserNS(helper, rootPid, prep).catch(() => undefined);
    throw err;
  }
}

/** Undoes prepareForUserNS: the mark, the devices it created, the propagation change. */
export async function undoPrepareForUserNS(
  helper: NsHelper,
  rootPid: number,
  prep: UserNsPreparation,
): Promise<void> {
  if (prep.mark !== undefined) {
    await helper.umount(rootPid, prep.mark);
    delete prep.mark;
  }
  if (prep.createdDevices?.length) {
    await helper.removeDev(rootPid, prep.createdDevices.join(","));
    delete prep.createdDevices;
  }
  if (!prep.rootWasShared) await helper.makePrivate(rootPid, "/");
}
