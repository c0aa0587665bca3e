import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  childPids,
  findInProcessTree,
  namespaceInode,
  parseProcCgroup,
  processExists,
  processStartTime,
  readNsPids,
} from "../../src/platform/index.js";

/** A shell that starts a sleeping child, so there is a two-level tree below this process. */
async function withProcessTree<T>(
  work: (shell: number, sleeper: number) => Promise<T>,
): Promise<T> {
  const shell = spawn("sh", ["-c", "sleep 30 & echo $!; wait"], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  try {
    const [line] = (await once(shell.stdout, "data")) as [Buffer];
    return await work(shell.pid as number, Number.parseInt(line.toString(), 10));
  } finally {
    spawn("pkill", ["-P", String(shell.pid)]);
    shell.kill();
  }
}

describe("/proc reads", () => {
  it("processStartTime reads field 22, also behind a command name with spaces and parentheses", async () => {
    const root = mkdtempSync(path.join(tmpdir(), "wsd-fake-proc-"));
    try {
      mkdirSync(path.join(root, "42"));
      // pid (comm) state ppid ... field 22 = starttime; comm chosen to break a naive split
      const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
      fields[19] = "987654321";
      writeFileSync(path.join(root, "42", "stat"), `42 (a) b ) c) ${fields.join(" ")}\n`);
      expect(await processStartTime(42, root)).toBe(987654321n);
      expect(await processStartTime(43, root)).toBeUndefined();
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
    const mine = await processStartTime(process.pid);
    expect(mine).toBeGreaterThan(0n);
    expect(await processStartTime(process.pid)).toBe(mine);
    // a process started later has a later start time: a recycled pid reads differently
    await withProcessTree(async (shell) => {
      expect((await processStartTime(shell)) ?? 0n).toBeGreaterThanOrEqual(mine ?? 0n);
    });
  });

  it("processExists and readNsPids for a live and a missing process", async () => {
    expect(await processExists(process.pid)).toBe(true);
    expect(await processExists(4_194_305)).toBe(false);
    expect((await readNsPids(process.pid))?.[0]).toBe(process.pid);
    expect(await readNsPids(4_194_305)).toBeUndefined();
  });

  it("namespaceInode tells namespaces apart and is undefined for a missing process", async () => {
    const mine = await namespaceInode(process.pid, "mnt");
    expect(mine).toBeGreaterThan(0);
    expect(await namespaceInode(process.pid, "mnt")).toBe(mine);
    expect(await namespaceInode(4_194_305, "net")).toBeUndefined();
  });

  it("childPids and findInProcessTree walk the tree below a process", async () => {
    await withProcessTree(async (shell, sleeper) => {
      expect(await childPids(shell)).toEqual([sleeper]);
      expect(await childPids(process.pid)).toContain(shell);
      const visited: number[] = [];
      const found = await findInProcessTree(shell, async (pid) => {
        visited.push(pid);
        return pid === sleeper ? `found ${pid}` : undefined;
      });
      expect(found).toBe(`found ${sleeper}`);
      expect(visited).toEqual([shell, sleeper]);
      expect(await findInProcessTree(shell, async () => undefined)).toBeUndefined();
    });
  });

  it("parseProcCgroup reads v1 controllers and the unified path", () => {
    const text = "12:cpu,cpuacct:/docker/abc\n5:memory:/docker/abc\n0::/system.slice/x\n";
    expect(parseProcCgroup(text)).toEqual({
      unified: "/system.slice/x",
      v1: { cpu: "/docker/abc", cpuacct: "/docker/abc", memory: "/docker/abc" },
    });
    expect(parseProcCgroup("3:pids:/a\n")).toEqual({ v1: { pids: "/a" } });
  });
});
