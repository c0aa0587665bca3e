import { LinuxOpError } from "./errors.js";
import { type NsHelper, NsHelperError } from "./ns-helper.js";
import { type ResolvedTarget, resolveTargetPath } from "./target-path.js";

export type PseudoFs = "proc" | "sysfs";

/**
 * Mounts a fresh proc (in the pid's pid namespace) or sysfs (in its network namespace) at
 * `target` inside the pid's mount namespace. The helper builds the instance in a private staging
 * namespace with Docker's masked/read-only paths applied, then moves the finished tree into place,
 * so the workspace never sees it unmasked.
 */
export async function mountPseudoFs(
  helper: NsHelper,
  fs: PseudoFs,
  hostPid: number,
  target: string,
): Promise<ResolvedTarget> {
  const resolved = await resolveTargetPath(hostPid, target);
  if (fs === "proc") await helper.mountProc(hostPid, resolved.inNamespace);
  else await helper.mountSysfs(hostPid, resolved.inNamespace);
  return resolved;
}

/**
 * Detaches (MNT_DETACH) whatever is mounted at `target` in the pid's mount namespace, including
 * the masks below it. Unlike upstream, this really removes the mount.
 */
export async function umountAt(
  helper: NsHelper,
  hostPid: number,
  target: string,
): Promise<ResolvedTarget> {
  const resolved = await resolveTargetPath(hostPid, target);
  try {
    await helper.umount(hostPid, resolved.inNamespace);
  } catch (err) {
    if (err instanceof NsHelperError && err.errno === 22) {
      throw new LinuxOpError(
        "failed-precondition",
        `${resolved.inNamespace} is not a mount point`,
        22,
      );
    }
    throw err;
  }
  return resolved;
}
