import { findInProcessTree, MAX_PID, PROC, readNsPids } from "../platform/index.js";
import { invalidArgument, permissionDenied } from "./errors.js";

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
  procRoot = PROC,
): Promise<number> {
  const wanted = validatePidValue(containerPid);
  const rootChain = await readNsPids(rootHostPid, procRoot);
  if (!rootChain) throw permissionDenied(`workspace root process ${rootHostPid} is gone`);
  const level = rootChain.length - 1;
  const found = await findInProcessTree(
    rootHostPid,
    async (hostPid) => {
      // an exited process reads as undefined: it is simply not a match
      const chain = await readNsPids(hostPid, procRoot);
      return chain !== undefined && chain.length > level && chain[level] === wanted
        ? hostPid
        : undefined;
    },
    procRoot,
  );
  if (found === undefined || found === 1) {
    throw permissionDenied(`pid ${wanted} is not a process of this workspace`);
  }
  return found;
}
