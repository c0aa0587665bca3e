import { spawn } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  claimProcessScratch,
  releaseProcessScratch,
  scratchDir,
} from "../../src/platform/fs/process-scratch.js";
import { processStartTime } from "../../src/platform/proc.js";

const ownNamespace = (): string => /\[(\d+)\]/.exec(readlinkSync("/proc/self/ns/pid"))?.[1] ?? "";

let base: string;
beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "wsd-scratch-test-"));
});
afterEach(async () => {
  await releaseProcessScratch();
  rmSync(base, { recursive: true, force: true });
});

/** A process that has ended, with the start time it had: its directory is stale. */
const endedProcess = async (): Promise<{ pid: number; start: bigint }> => {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  const pid = child.pid as number;
  const start = (await processStartTime(pid)) as bigint;
  child.kill("SIGKILL");
  await new Promise((r) => child.on("exit", r));
  return { pid, start };
};

describe("the daemon's scratch directory", () => {
  it("is a 0700 directory of this process, used for temporary files until released", async () => {
    const claim = await claimProcessScratch(base);
    const start = await processStartTime(process.pid);
    expect(claim.dir).toBe(join(base, "wsd-scratch", `${ownNamespace()}-${process.pid}-${start}`));
    expect(statSync(claim.dir).mode & 0o777).toBe(0o700);
    expect(statSync(join(base, "wsd-scratch")).mode & 0o777).toBe(0o700);
    expect(scratchDir()).toBe(claim.dir);
    // a second daemon in the same process shares it; the last release removes it
    expect((await claimProcessScratch(base)).dir).toBe(claim.dir);
    writeFileSync(join(claim.dir, "left-over"), "x");
    await releaseProcessScratch();
    expect(existsSync(claim.dir)).toBe(true);
    await releaseProcessScratch();
    expect(existsSync(claim.dir)).toBe(false);
    expect(scratchDir()).toBe(tmpdir());
  });

  it("removes the directories of ended processes and keeps those of live ones and of other pid namespaces", async () => {
    const parent = join(base, "wsd-scratch");
    mkdirSync(parent, { mode: 0o700 });
    const ns = ownNamespace();
    const ended = await endedProcess();
    const stale = join(parent, `${ns}-${ended.pid}-${ended.start}`);
    mkdirSync(join(stale, "wsd-tar-abc"), { recursive: true });
    writeFileSync(join(stale, "wsd-tar-abc", "tar"), "partial");
    // the parent's pid is alive, but under another start time it is a recycled number
    const parentStart = (await processStartTime(process.ppid)) as bigint;
    const live = join(parent, `${ns}-${process.ppid}-${parentStart}`);
    const recycled = join(parent, `${ns}-${process.ppid}-${parentStart + 1n}`);
    const foreign = join(parent, `1-${ended.pid}-${ended.start}`);
    const unknown = join(parent, "not-a-daemon");
    for (const dir of [live, recycled, foreign, unknown]) mkdirSync(dir);

    const claim = await claimProcessScratch(base);

    expect([...claim.removed].sort()).toEqual([recycled, stale].sort());
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recycled)).toBe(false);
    for (const dir of [live, foreign, unknown]) expect(existsSync(dir)).toBe(true);
  });

  it("cleans up after a daemon process that was killed with its files still in place", async () => {
    const module = fileURLToPath(
      new URL("../../src/platform/fs/process-scratch.ts", import.meta.url),
    );
    const script = `
      import { writeFileSync, mkdirSync } from "node:fs";
      import { claimProcessScratch } from ${JSON.stringify(module)};
      const { dir } = await claimProcessScratch(${JSON.stringify(base)});
      mkdirSync(dir + "/wsd-packs-1");
      writeFileSync(dir + "/wsd-packs-1/pack", "x".repeat(1 << 16));
      process.stdout.write(dir + "\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    const dir = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(out.trim());
      });
      child.on("exit", (code) => reject(new Error(`child exited with ${code} before claiming`)));
    });
    expect(existsSync(join(dir, "wsd-packs-1", "pack"))).toBe(true);
    // while it runs, a second daemon keeps its hands off
    const whileAlive = await claimProcessScratch(base);
    expect(whileAlive.removed).toEqual([]);
    await releaseProcessScratch();
    child.kill("SIGKILL");
    await new Promise((r) => child.on("exit", r));

    const afterCrash = await claimProcessScratch(base);
    expect(afterCrash.removed).toEqual([dir]);
    expect(existsSync(dir)).toBe(false);
  });

  it("refuses a shared parent that is a symlink, and writes nothing where it points", async () => {
    const elsewhere = join(base, "elsewhere");
    mkdirSync(elsewhere);
    symlinkSync(elsewhere, join(base, "wsd-scratch"));
    await expect(claimProcessScratch(base)).rejects.toThrow(/not a directory owned by uid/);
    expect(scratchDir()).toBe(tmpdir());
    expect(readdirSync(elsewhere)).toEqual([]);
  });

  it("takes back a parent whose mode lets others in", async () => {
    const parent = join(base, "wsd-scratch");
    mkdirSync(parent, { mode: 0o777 });
    chmodSync(parent, 0o777);
    await claimProcessScratch(base);
    expect(statSync(parent).mode & 0o777).toBe(0o700);
  });
});
