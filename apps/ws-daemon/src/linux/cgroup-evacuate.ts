import { chown, mkdir, readFile, writeFile } from "node:fs/promises";
import { errnoCode, errorMessage } from "../platform/index.js";
import { LinuxOpError } from "./errors.js";

export interface EvacuationOptions {
  /** The delegated sub-tree created below the workspace cgroup. */
  subtree?: string;
  /** The leaf below the sub-tree that receives the processes. */
  leaf?: string;
  /** Owner given to the delegated sub-tree (its dir, cgroup.procs, cgroup.subtree_control, cgroup.threads). */
  delegateTo?: { uid: number; gid: number };
}

export interface EvacuationResult {
  /** Absolute path of the delegated sub-tree. */
  subtree: string;
  leaf: string;
  moved: number;
  /** Controllers enabled on the workspace cgroup and on the sub-tree. */
  enabledControllers: string[];
}

const listPids = async (dir: string) =>
  (await readFile(`${dir}/cgroup.procs`, "utf8")).split("\n").filter((l) => l.trim() !== "");

const controllersOf = async (dir: string) =>
  (await readFile(`${dir}/cgroup.controllers`, "utf8")).trim().split(/\s+/).filter(Boolean);

/**
 * cgroup v2 evacuation: moves every process of `cgroupDir` into `<subtree>/<leaf>` and enables all
 * available controllers on `cgroupDir` and on `<subtree>`. This satisfies the "no internal
 * processes" rule, so the workspace can manage `<subtree>` (e.g. after CLONE_NEWCGROUP) as its own
 * cgroup2 tree. Processes forking during the move are picked up by repeating until empty.
 */
export async function evacuateCgroupV2(
  cgroupDir: string,
  opts: EvacuationOptions = {},
): Promise<EvacuationResult> {
  const subtree = `${cgroupDir}/${opts.subtree ?? "workspace"}`;
  const leaf = `${subtree}/${opts.leaf ?? "user"}`;
  await mkdir(leaf, { recursive: true });
  // PrepareForUserNS already moved the container's processes into the sub-tree itself
  let moved = 0;
  for (const source of [cgroupDir, subtree]) moved += await moveAllPids(source, leaf);
  const enabled: string[] = [];
  for (const dir of [cgroupDir, subtree]) {
    for (const c of await controllersOf(dir)) {
      try {
        await writeFile(`${dir}/cgroup.subtree_control`, `+${c}`);
        if (!enabled.includes(c)) enabled.push(c);
      } catch (err) {
        throw cgroupError(`cannot enable controller ${c} on ${dir}`, err);
      }
    }
  }
  if (opts.delegateTo) {
    const { uid, gid } = opts.delegateTo;
    // cgroup-v2 delegation: the directory and these three files, not the controller knobs
    for (const dir of [subtree, leaf]) {
      for (const p of [
        dir,
        `${dir}/cgroup.procs`,
        `${dir}/cgroup.subtree_control`,
        `${dir}/cgroup.threads`,
      ]) {
        await chown(p, uid, gid);
      }
    }
  }
  return { subtree, leaf, moved, enabledControllers: enabled };
}

/** Moves every process of `from` into `to`, repeating while processes fork; returns how many. */
async function moveAllPids(from: string, to: string): Promise<number> {
  let moved = 0;
  for (let round = 0; round < 10; round++) {
    const pids = await listPids(from);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        await writeFile(`${to}/cgroup.procs`, pid);
        moved++;
      } catch (err) {
        if (errnoCode(err) !== "ESRCH") throw cgroupError(`cannot move pid ${pid}`, err);
      }
    }
  }
  if ((await listPids(from)).length > 0) {
    throw new LinuxOpError(
      "failed-precondition",
      `processes keep appearing in ${from}; cannot evacuate`,
    );
  }
  return moved;
}

/**
 * PrepareForUserNS on cgroup v2, as upstream: `<cgroupDir>/<name>` is created, every process of
 * the container moves into it and every controller of `cgroupDir` is enabled for its children.
 * ring1 is cloned with CLONE_NEWCGROUP afterwards, so its cgroup namespace's root is that child.
 * A process or controller that cannot move is reported (upstream only warns) and left.
 */
export async function createWorkspaceCgroup(
  cgroupDir: string,
  name = "workspace",
): Promise<{ path: string; moved: number; problems: string[] }> {
  const path = `${cgroupDir}/${name}`;
  await mkdir(path, { recursive: true });
  const problems: string[] = [];
  let moved = 0;
  for (const pid of await listPids(cgroupDir)) {
    try {
      await writeFile(`${path}/cgroup.procs`, pid);
      moved++;
    } catch (err) {
      if (errnoCode(err) !== "ESRCH") problems.push(`pid ${pid}: ${errorMessage(err)}`);
    }
  }
  for (const c of await controllersOf(cgroupDir)) {
    try {
      await writeFile(`${cgroupDir}/cgroup.subtree_control`, `+${c}`);
    } catch (err) {
      problems.push(`controller ${c}: ${errorMessage(err)}`);
    }
  }
  return { path, moved, problems };
}

function cgroupError(what: string, err: unknown): LinuxOpError {
  return new LinuxOpError("failed-precondition", `${what}: ${errorMessage(err)}`);
}
