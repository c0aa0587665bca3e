import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg } from "node:os";
import path from "node:path";
import { FormatContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";

/** CPU seconds of this process, and of its children that were waited for (their descendants too). */
function cpuSeconds(): { self: number; children: number } {
  const self = process.cpuUsage();
  // /proc/self/stat fields 16 and 17 (cutime, cstime), in clock ticks (100 per second here)
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[13]) + Number(fields[14]);
  return { self: (self.user + self.system) / 1e6, children: ticks / 100 };
}

interface Sample {
  wall: number;
  self: number;
  children: number;
}

const range = (xs: number[]) =>
  xs.length === 0 ? "-" : `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;

/**
 * The first chunked backup of `src` by the native chunker with its own walk (`native walk`) and
 * fed by the JavaScript walk (`JS walk`), against `tar | zstd -1 -T0 > file`: `rounds` rounds,
 * the contenders' order rotating, every backup into a fresh store (nothing deduplicates). Prints
 * wall seconds and CPU seconds (this process: the walk, the event loop; children: wsd-chunker,
 * or tar and zstd) as ranges, with the load average.
 */
export async function compareFirstBackupWalks(
  src: string,
  work: string,
  chunkerPath: string,
  rounds: number,
): Promise<string[]> {
  const cliFile = path.join(work, "walks-cli.tar.zst");
  const ws = { id: "walks", owner: "walks-owner", metaId: "walks-meta" };
  // the store is removed after the measurement: unlinking its packs is not the backup's cost
  let stores: string[] = [];
  // returns the unchanged re-backup into the same store, measured right after
  const ours = (nativeWalk: boolean) => async () => {
    const dir = mkdtempSync(path.join(work, "walks-store-"));
    stores.push(dir);
    const store = new FormatContentStore(new LocalDirectoryObjectStore(dir), {
      format: "chunked",
      chunkerPath,
      nativeWalk,
    });
    await store.backup(ws, src);
    return async () => {
      await store.backup(ws, src);
    };
  };
  type Run = () => Promise<(() => Promise<void>) | undefined>;
  const contenders: [string, Run][] = [
    [
      "tar | zstd -1 -T0",
      async () => {
        execFileSync("sh", ["-c", `tar -C '${src}' -cf - . | zstd -q -1 -T0 > '${cliFile}'`]);
        return undefined;
      },
    ],
    ["native walk", ours(true)],
    ["JS walk", ours(false)],
  ];
  const samples = new Map<string, Sample[]>();
  for (const [n] of contenders) samples.set(n, []);
  for (const [n] of contenders.slice(1)) samples.set(`${n}: unchanged re-backup`, []);
  const measure = async (name: string, run: Run) => {
    execFileSync("sync");
    const c0 = cpuSeconds();
    const t0 = performance.now();
    const again = await run();
    const wall = (performance.now() - t0) / 1000;
    const c1 = cpuSeconds();
    const s = { wall, self: c1.self - c0.self, children: c1.children - c0.children };
    samples.get(name)?.push(s);
    process.stderr.write(
      `  walks ${name}: wall ${wall.toFixed(2)} s, CPU self ${s.self.toFixed(2)} + children ${s.children.toFixed(2)} s\n`,
    );
    return again;
  };
  const loadBefore = loadavg()[0] ?? 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < contenders.length; i++) {
      const [name, run] = contenders[(i + r) % contenders.length] as [string, Run];
      const again = await measure(name, run);
      if (again)
        await measure(`${name}: unchanged re-backup`, async () => {
          await again();
          return undefined;
        });
      for (const dir of stores) rmSync(dir, { recursive: true, force: true });
      stores = [];
      rmSync(cliFile, { force: true });
    }
  }
  rmSync(cliFile, { force: true });
  const lines = [
    `first backup (and an unchanged re-backup after it), ${rounds} interleaved rounds, load average ${loadBefore.toFixed(1)} before, ${(loadavg()[0] ?? 0).toFixed(1)} after (wall s | CPU s: daemon process | children | total)`,
    "| contender | wall | CPU daemon | CPU children | CPU total |",
    "| --- | --- | --- | --- | --- |",
  ];
  for (const [name, xs] of samples) {
    lines.push(
      `| ${name.replaceAll("|", "\\|")} | ${range(xs.map((x) => x.wall))} | ${name.startsWith("tar") ? "-" : range(xs.map((x) => x.self))} | ${range(xs.map((x) => x.children))} | ${range(xs.map((x) => x.self * (name.startsWith("tar") ? 0 : 1) + x.children))} |`,
    );
  }
  return lines;
}
