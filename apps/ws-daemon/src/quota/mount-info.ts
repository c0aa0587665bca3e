import { readFile, realpath } from "node:fs/promises";
import { readMountInfoText } from "../platform/index.js";

export interface MountEntry {
  mountPoint: string;
  fsType: string;
  source: string;
  /** Per-mount options (ro, nosuid, ...). */
  mountOptions: string[];
  /** Filesystem options (e.g. prjquota for XFS). */
  superOptions: string[];
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const decodeOctalEscapes = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));

export const parseMountInfo = (text: string): MountEntry[] => {
  const entries: MountEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const [left, right] = line.split(" - ");
    if (left === undefined || right === undefined) continue;
    const l = left.split(" ");
    const r = right.split(" ");
    entries.push({
      mountPoint: decodeOctalEscapes(l[4] ?? ""),
      mountOptions: (l[5] ?? "").split(","),
      fsType: r[0] ?? "",
      source: decodeOctalEscapes(r[1] ?? ""),
      superOptions: (r[2] ?? "").split(","),
    });
  }
  return entries;
};

export const readMountTable = async (): Promise<MountEntry[]> =>
  parseMountInfo(await readMountInfoText());

/** The mount visible at exactly `dir` (the topmost when several are stacked). */
export const mountAt = async (dir: string): Promise<MountEntry | undefined> => {
  const path = await realpath(dir).catch(() => dir);
  const table = await readMountTable();
  return table.findLast((m) => m.mountPoint === path);
};

/** The mount that holds `path` (longest mount point that is a prefix of it). */
export const mountContaining = async (path: string): Promise<MountEntry | undefined> => {
  const real = await realpath(path);
  let best: MountEntry | undefined;
  for (const m of await readMountTable()) {
    const inside =
      real === m.mountPoint || m.mountPoint === "/" || real.startsWith(`${m.mountPoint}/`);
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
};

/** The file behind a loop device (/dev/loopN), from sysfs; undefined when not attached. */
export const loopBackingFile = async (device: string): Promise<string | undefined> => {
  const name = /^\/dev\/(loop\d+)$/.exec(device)?.[1];
  if (!name) return undefined;
  try {
    const text = await readFile(`/sys/block/${name}/loop/backing_file`, "utf8");
    return text.trim().replace(/ \(deleted\)$/, "");
  } catch {
    return undefined;
  }
};
