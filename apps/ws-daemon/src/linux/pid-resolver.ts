import { readdir, readFile } from "node:fs/promises";
import { invalidArgument, permissionDenied } from "./errors.js";

/** The kernel's PID_MAX_LIMIT on 64-bit: no pid can be larger. */
export const MAX_PID = 4_194_304;

/** The pid chain of /proc/<pid>/status NSpid: host pid first, innermost namespace last. */
export async function readNsPids(
  hostPid: number,
  procRoot = "/proc",
): Promise<number[] | undefined> {
  let status: string;
  try {
    status = await readFile(`${procRoot}/${hostPid}/status`, "utf8");
  } catch {
    return undefined; // gone (or never existed): callers treat it as "not ours"
  }
  const line = status.split("\n").find((l) => l.startsWith("NSpid:"));
  if (!line) return undefined;
  return line
    .slice("NSpid:".length)
    .trim()
    .split(/\s+/)
    .map((s) => Number.parseInt(s, 10));
}

async function childrenOf(hostPid: number, procRoot: string): Promise<number[]> {
  let tasks: string[];
  try {
    tasks = await readdir(`${procRoot}/${hostPid}/task`);
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const t of tasks) {
    try {
      const text = await readFile(`${procRoot}/${hostPid}/task/${t}/children`, "utf8");
      for (const s of text.trim().split(/\s+/)) if (s) out.push(Number.parseInt(s, 10));
    } catch {
      // the thread exited while we walked; its children were reparented and show up elsewhere
    }
  }
  return out;
}

/** Rejects anything that cannot be a pid before touching /proc: wire values are int64. */
export function validatePidValue(pid: number | bigint): number {
  const n = typeof pid === "bigint" ? Number(pid) : pid;
  if (!Number.isSafeInteger(n) || n < 1 || n > MAX_PID) {
    throw invalidArgument(`pid ${String(pid)} is not a valid pid (1..${MAX_PID})`);
  }
  return n;
}

/**
 * Translates a pid as seen inside the workspace container's pid namespace to a host pid, and only
 * succeeds for the container's root or one of its descendants (so never host pid 1, another
 * workspace's process or a dead process). Nested pid namespaces below the container are walked
 * too, but the number is always read at the container's own namespace level.
 */
export async function resolveContainerPid(
  rootHostPid: number,
  containerPid: number | bigint,
  procRoot = "/proc",
): Promise<number> {
  const wanted = validatePidValue(containerPid);
  const rootChain = await readNsPids(rootHostPid, procRoot);
  if (!rootChain) throw permissionDenied(`workspace root process ${rootHostPid} is gone`);
  const level = rootChain.length - 1;
  const seen = new Set<number>();
  let frontier = [rootHostPid];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const hostPid of frontier) {
      if (seen.has(hostPid)) continue;
      seen.add(hostPid);
      const chain = await readNsPids(hostPid, procRoot);
      if (!chain || chain.length <= level) continue; // exited, or somehow outside the container's pid ns
      if (chain[level] === wanted) {
        if (hostPid === 1) break;
        return hostPid;
      }
      next.push(...(await childrenOf(hostPid, procRoot)));
    }
    frontier = next;
  }
  throw permissionDenied(`pid ${wanted} is not a process of this workspace`);
}
