import { type ChildProcess, spawn } from "node:child_process";
import { readdir, readFile, readlink } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";

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

export async function procInfo(hostPid: number): Promise<ProcInfo | undefined> {
  try {
    const status = await readFile(`/proc/${hostPid}/status`, "utf8");
    const ns = /^NSpid:\s+(.*)$/m.exec(status)?.[1] ?? "";
    const cmd = (await readFile(`/proc/${hostPid}/cmdline`, "utf8")).split("\0").filter(Boolean);
    return { hostPid, nsPids: ns.trim().split(/\s+/).map(Number), cmdline: cmd };
  } catch {
    return undefined;
  }
}

export async function childrenOf(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const t of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${t}/children`, "utf8").catch(() => "");
    for (const s of text.trim().split(/\s+/)) if (s) out.push(Number(s));
  }
  return out;
}

export async function nsId(pid: number, ns: string): Promise<string> {
  return readlink(`/proc/${pid}/ns/${ns}`);
}

/**
 * A "workspace container": `unshare --fork --pid --mount --net --mount-proc sh -c <script>`.
 * `children` are shell commands started in the background by the container's init; each must
 * contain a unique marker (e.g. `sleep 3601`) so tests can find it. Readiness = every marker seen.
 */
export async function startContainer(
  children: string[] = [],
  markers: string[] = [],
): Promise<FakeContainer> {
  const script = `${children.map((c) => `${c} &`).join(" ")} sleep 3600 & wait`;
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
    let frontier = await childrenOf(rootPid);
    while (frontier.length) {
      const next: number[] = [];
      for (const p of frontier) {
        const info = await procInfo(p);
        if (info) out.push(info);
        next.push(...(await childrenOf(p)));
      }
      frontier = next;
    }
    return out;
  };
  const find = async (marker: string) => {
    const hit = (await descendants()).find(
      (d) => d.cmdline.join(" ").includes(marker) && d.cmdline[0] !== "unshare",
    );
    if (!hit) throw new Error(`no container process with ${marker}`);
    return hit;
  };
  for (let i = 0; i < 500; i++) {
    if (!rootPid) rootPid = (await childrenOf(launcherPid))[0] ?? 0;
    if (rootPid) {
      const all = (await descendants()).map((d) => d.cmdline.join(" "));
      const ready =
        all.some((c) => c === "sleep 3600") &&
        markers.every((m) => all.some((c) => c.includes(m) && !c.startsWith("unshare")));
      if (ready) break;
    }
    await sleep(10);
  }
  if (!rootPid) throw new Error("container did not start");
  return {
    rootPid,
    launcher,
    descendants,
    find,
    async stop() {
      try {
        process.kill(rootPid, "SIGKILL"); // killing a pid namespace's init kills the namespace
      } catch {
        // already gone
      }
      if (launcher.exitCode === null && launcher.signalCode === null) {
        await new Promise((resolve) => launcher.once("exit", resolve));
      }
    },
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
