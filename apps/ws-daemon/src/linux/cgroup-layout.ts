import { readFile } from "node:fs/promises";
import { PROC } from "../platform/index.js";

export type CgroupVersion = "v1" | "v2" | "hybrid";

export interface CgroupLayout {
  version: CgroupVersion;
  /** Where the unified (cgroup2) hierarchy is mounted, if anywhere. */
  unifiedMount?: string;
  /** v1 controller name -> mount point (a mount with several controllers appears under each). */
  v1Mounts: Record<string, string>;
}

/**
 * Reads the layout from /proc/self/mounts text: v2 when /sys/fs/cgroup (or the only cgroup
 * mount) is cgroup2; hybrid when v1 controllers exist next to a cgroup2 mount; v1 otherwise.
 */
export function parseCgroupLayout(mountsText: string, base = "/sys/fs/cgroup"): CgroupLayout {
  const v1Mounts: Record<string, string> = {};
  let unifiedMount: string | undefined;
  for (const line of mountsText.split("\n")) {
    const [, mountPoint, fstype, options] = line.split(" ");
    if (!mountPoint || !fstype) continue;
    if (fstype === "cgroup2" && (unifiedMount === undefined || mountPoint === base))
      unifiedMount = mountPoint;
    if (fstype === "cgroup") {
      for (const opt of (options ?? "").split(",")) {
        if (["rw", "ro", "relatime", "nosuid", "nodev", "noexec", "noatime"].includes(opt))
          continue;
        if (!(opt in v1Mounts)) v1Mounts[opt] = mountPoint;
      }
    }
  }
  const hasV1 = Object.keys(v1Mounts).some((k) => !k.startsWith("name="));
  const version: CgroupVersion = hasV1 ? (unifiedMount ? "hybrid" : "v1") : "v2";
  return unifiedMount ? { version, unifiedMount, v1Mounts } : { version, v1Mounts };
}

export async function detectCgroupLayout(): Promise<CgroupLayout> {
  return parseCgroupLayout(await readFile(`${PROC}/self/mounts`, "utf8"));
}
