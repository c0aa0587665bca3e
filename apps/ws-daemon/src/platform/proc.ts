import { readdir, readFile, stat } from "node:fs/promises";

/**
 * Reads of /proc that several domains need. Every function takes the proc root so tests can
 * point it at a fixture; a process that is gone reads as undefined or empty, never as an error,
 * because any process may exit between two reads.
 */
export const PROC = "/proc";

/** The kernel's PID_MAX_LIMIT on 64-bit: no pid can be larger. */
export const MAX_PID = 4_194_304;

export const processExists = (pid: number, procRoot = PROC): Promise<boolean> =>
  stat(`${procRoot}/${pid}`).then(
    () => true,
    () => false,
  );

/** The inode of /proc/<pid>/ns/<kind>, which identifies the namespace; undefined when gone. */
export const namespaceInode = async (
  pid: number,
  kind: "mnt" | "net" | "pid" | "user" | "uts" | "ipc" | "cgroup",
  procRoot = PROC,
): Promise<number | undefined> => {
  try {
    return (await stat(`${procRoot}/${pid}/ns/${kind}`)).ino;
  } catch {
    return undefined;
  }
};

/** The pid chain of /proc/<pid>/status NSpid: host pid first, innermost namespace last. */
export async function readNsPids(pid: number, procRoot = PROC): Promise<number[] | undefined> {
  let status: string;
  try {
    status = await readFile(`${procRoot}/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  if (!line) return undefined;
  return line
    .slice("NSpid:".length)
    .trim()
    .split(/\s+/)
    .map((s) => Number.parseInt(s, 10));
}

/** Direct children of every thread of `pid`. */
export async function childPids(pid: number, procRoot = PROC): Promise<number[]> {
  let tasks: string[];
  try {
    tasks = await readdir(`${procRoot}/${pid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const t of tasks) {
    try {
      const text = await readFile(`${procRoot}/${pid}/task/${t}/children`, "utf8");
      for (const s of text.trim().split(/\s+/)) if (s) out.push(Number.parseInt(s, 10));
    } catch {
      // the thread exited while we walked; its children were reparented and show up elsewhere
    }
  }
  return out;
}

/**
 * Breadth-first over the process tree below `rootPid` (the root included), each pid once, until
 * `visit` returns something other than undefined.
 */
export async function findInProcessTree<T>(
  rootPid: number,
  visit: (pid: number) => Promise<T | undefined>,
  procRoot = PROC,
): Promise<T | undefined> {
  const seen = new Set<number>();
  let frontier = [rootPid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const pid of frontier) {
      if (seen.has(pid)) continue;
      seen.add(pid);
      const found = await visit(pid);
      if (found !== undefined) return found;
      next.push(...(await childPids(pid, procRoot)));
    }
    frontier = next;
  }
  return undefined;
}

export interface ProcCgroups {
  /** The path in the unified hierarchy (the `0::` line), if present. */
  unified?: string;
  /** v1 controller -> path inside that controller's hierarchy. */
  v1: Record<string, string>;
}

/** Parses /proc/<pid>/cgroup text. */
export function parseProcCgroup(text: string): ProcCgroups {
  const v1: Record<string, string> = {};
  let unified: string | undefined;
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] as string;
    const path = m[3] as string;
    if (m[1] === "0" && controllers === "") unified = path;
    else for (const c of controllers.split(",")) if (c) v1[c] = path;
  }
  return unified === undefined ? { v1 } : { unified, v1 };
}

export async function readProcCgroup(pid: number, procRoot = PROC): Promise<ProcCgroups> {
  return parseProcCgroup(await readFile(`${procRoot}/${pid}/cgroup`, "utf8"));
}

/** /proc/<pid>/mountinfo text ("self" for the daemon). */
export const readMountInfoText = (
  pid: number | "self" = "self",
  procRoot = PROC,
): Promise<string> => readFile(`${procRoot}/${pid}/mountinfo`, "utf8");

/** /proc/filesystems text; empty when unreadable. */
export const readFilesystemsText = (procRoot = PROC): Promise<string> =>
  readFile(`${procRoot}/filesystems`, "utf8").catch(() => "");

/**
 * When the process started (field 22 of /proc/<pid>/stat, clock ticks since boot); undefined
 * once it is gone. A pid number that comes back with another start time is another process.
 */
export async function processStartTime(pid: number, procRoot = PROC): Promise<bigint | undefined> {
  let text: string;
  try {
    text = await readFile(`${procRoot}/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // the command name (field 2) may hold spaces and parentheses: fields start after the last ')'
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const start = fields[19];
  return start !== undefined && /^\d+$/.test(start) ? BigInt(start) : undefined;
}
