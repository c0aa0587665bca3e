import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import { childPids, processStartTime, readNsPids } from "../../../src/platform/index.js";

export { isRoot } from "../../support/env.js";

import { isRoot } from "../../support/env.js";
export const rootSkipReason = "needs root (real namespaces, mounts and cgroups)";
if (!isRoot) console.warn(`[linux tests] skipping root-only tests: ${rootSkipReason}`);

export interface ProcInfo {
  hostPid: number;
  nsPids: number[];
  cmdline: string[];
}

export interface FakeContainer {
  /** Host pid of the container's init (pid 1 in its pid namespace). */
  rootPid: number;
  launcher: ChildProcess;
  /** All descendants of rootPid (not rootPid itself). */
  descendants(): Promise<ProcInfo[]>;
  /** The descendant whose command line contains `marker`. */
  find(marker: string): Promise<ProcInfo>;
  stop(): Promise<void>;
}

/** How long a container's processes may take to appear (a loaded CI machine is slow to fork). */
const STARTUP_WAIT_MS = 45_000;

/** What /proc tells of a process; undefined once it is gone. */
async function procInfo(hostPid: number): Promise<ProcInfo | undefined> {
  const nsPids = await readNsPids(hostPid);
  const cmdline = await readFile(`/proc/${hostPid}/cmdline`, "utf8").then(
    (text) => text.split("\0").filter(Boolean),
    () => undefined,
  );
  return nsPids && cmdline ? { hostPid, nsPids, cmdline } : undefined;
}

/**
 * A "workspace container": `unshare --fork --pid --mount --net --mount-proc sh -c <script>`.
 * `children` are shell commands started in the background by the container's init; each must
 * contain a unique marker (e.g. `sleep 3601`) so tests can find it. Readiness = every marker seen.
 */
export async function startContainer(
  children: string[] = [],
  markers: string[] = [],
  setup?: string,
): Promise<FakeContainer> {
  // `setup` runs to its end before any child starts: a child started while it still ran would
  // race it (sh opens /dev/null for every background job, so mounting over /dev must come first).
  const prologue = setup === undefined ? "" : `{ ${setup}; } || exit 97\n`;
  const script = `${prologue}${children.map((c) => `${c} &`).join(" ")} sleep 3600 & wait`;
  const launcher = spawn(
    "unshare",
    ["--fork", "--pid", "--mount", "--net", "--mount-proc", "--kill-child", "sh", "-c", script],
    {
      stdio: "ignore",
    },
  );
  const launcherPid = launcher.pid as number;
  let rootPid = 0;
  const descendants = async (): Promise<ProcInfo[]> => {
    const out: ProcInfo[] = [];
    let frontier = await childPids(rootPid);
    while (frontier.length) {
      const next: number[] = [];
      for (const p of frontier) {
        const info = await procInfo(p);
        if (info) out.push(info);
        next.push(...(await childPids(p)));
      }
      frontier = next;
    }
    return out;
  };
  // A job the root shell forks is a copy of the root shell (its command line holds every child's
  // command) until it execs: never take such a copy for the child itself.
  const launcherScript = ["sh", "-c", script].join(" ");
  const isChild = (c: string, marker: string) =>
    c.includes(marker) && !c.startsWith("unshare") && c !== launcherScript;
  const find = async (marker: string) => {
    // on a loaded machine a child may still be on its way (its shell not yet forked or exec-ed)
    const deadline = Date.now() + STARTUP_WAIT_MS;
    for (;;) {
      const hit = (await descendants()).find((d) => isChild(d.cmdline.join(" "), marker));
      if (hit) return hit;
      if (Date.now() > deadline) {
        const seen = (await descendants()).map((d) => d.cmdline.join(" "));
        throw new Error(`no container process with ${marker} (seen: ${JSON.stringify(seen)})`);
      }
      await sleep(20);
    }
  };
  // Bounded by time, not by rounds: under load one round can take far longer than its sleep.
  const deadline = Date.now() + STARTUP_WAIT_MS;
  let seen: string[] = [];
  for (;;) {
    if (!rootPid) rootPid = (await childPids(launcherPid))[0] ?? 0;
    if (rootPid) {
      seen = (await descendants()).map((d) => d.cmdline.join(" "));
      const ready =
        seen.some((c) => c === "sleep 3600") &&
        markers.every((m) => seen.some((c) => isChild(c, m)));
      if (ready) break;
    }
    if (Date.now() > deadline) {
      launcher.kill("SIGKILL");
      throw new Error(
        rootPid
          ? `container processes not all started within ${STARTUP_WAIT_MS} ms (seen: ${JSON.stringify(seen)})`
          : "container did not start",
      );
    }
    await sleep(10);
  }
  const rootStart = await processStartTime(rootPid);
  return {
    rootPid,
    launcher,
    descendants,
    find,
    async stop() {
      // Pids wrap quickly here (pid_max 32768): once the container is gone its number may be
      // another test's process, so kill only the process that started when the container did.
      if ((await processStartTime(rootPid)) === rootStart) {
        try {
          process.kill(rootPid, "SIGKILL"); // killing a pid namespace's init kills the namespace
        } catch {
          // already gone
        }
      }
      if (launcher.exitCode === null && launcher.signalCode === null) {
        await new Promise((resolve) => launcher.once("exit", resolve));
      }
    },
  };
}

/**
 * A container for the tests of the enclosing describe block: started before the first, stopped
 * after the last. The returned function hands it to the tests.
 */
export function containerForSuite(children: string[] = [], markers: string[] = [], setup?: string) {
  let container: FakeContainer | undefined;
  beforeAll(async () => {
    container = await startContainer(children, markers, setup);
  });
  afterAll(async () => {
    await container?.stop();
  });
  return (): FakeContainer => {
    if (!container) throw new Error("the suite's container starts in beforeAll");
    return container;
  };
}

/** A temporary directory for the tests of the enclosing describe block, removed after them. */
export function tempDirForSuite(prefix: string) {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });
  return (): string => {
    if (dir === undefined) throw new Error("the suite's directory is made in beforeAll");
    return dir;
  };
}

/** Runs a command and returns stdout, throwing with stderr on failure. */
export async function sh(cmd: string, args: string[], stdin?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args.join(" ")}: ${code} ${err}`)),
    );
    child.stdin.on("error", () => {
      // the command may exit without reading its input; its exit code tells what happened
    });
    child.stdin.end(stdin ?? "");
  });
}
