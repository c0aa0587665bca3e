/**
 * Sealed packs into the store, streamed through the daemon vs given as files (issue 12):
 * `npx tsx bench/chunked-packs.bench.ts` (from apps/ws-daemon; BENCH_SCALE, default 0.25; BENCH_ROUNDS,
 * default 3; BENCH_S3=0 skips moto). First chunked backups with the native chunker of the
 * workspace of bench/support/workspace.ts, each into an empty store, the two ways interleaved in
 * alternating order:
 *   stream    the store without putFile or a staging directory (packs in the scratch directory,
 *             copied into the store through Node streams: the code before putFile)
 *   file      the store as it is (local: packs staged on the store's file system and renamed
 *             into place; S3: one streamed PUT of known length per pack)
 * and `tar | zstd -1 -T0 > file` (cli) at the start of each round, for issue 12's ratio.
 * Per backup: wall seconds, CPU seconds of this process's main thread (the event loop that also
 * serves RPCs), of the whole process (adds the tar walk's worker thread and libuv's pool) and of
 * its children (wsd-chunker), from /proc. The load average is printed before and after. One
 * uncounted backup first warms up the walk's worker, the JIT and the page cache.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import {
  FormatContentStore,
  LocalDirectoryObjectStore,
  type ObjectStore,
  S3ObjectStore,
} from "../src/storage/index.js";
import type { GetOptions, PutOptions } from "../src/storage/object-store.js";
import { chunkerPath } from "../src/wiring/index.js";
import { startMotoServer } from "../test/support/moto-server.js";
import { generateWorkspace } from "./support/workspace.js";

const scale = Number(process.env.BENCH_SCALE ?? "0.25");
const rounds = Number(process.env.BENCH_ROUNDS ?? "3");
const withS3 = process.env.BENCH_S3 !== "0";
const TICK_S = 1 / Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim());

/** The store before putFile: everything but putFile and the staging directory. */
function streamOnly(inner: ObjectStore): ObjectStore {
  const files = inner.files;
  return {
    describe: () => inner.describe(),
    put: (key: string, body: Readable, options?: PutOptions) => inner.put(key, body, options),
    get: (key: string, options?: GetOptions) => inner.get(key, options),
    head: (key: string) => inner.head(key),
    delete: (key: string) => inner.delete(key),
    list: (prefix: string) => inner.list(prefix),
    ...(files ? { files: { open: (k) => files.open(k), create: (k) => files.create(k) } } : {}),
  };
}

/** utime + stime, in seconds, of a /proc stat line. */
const statCpu = (file: string, first: number): number => {
  const fields = readFileSync(file, "utf8").split(") ")[1]?.split(" ") ?? [];
  // fields here start at stat's field 3; utime is field 14
  const at = (n: number) => Number(fields[n - 3]);
  return (at(first) + at(first + 1)) * TICK_S;
};

interface Sample {
  wall: number;
  main: number;
  process: number;
  children: number;
}

async function measured(run: () => Promise<unknown>): Promise<Sample> {
  execFileSync("sync");
  const self = `/proc/self/task/${process.pid}/stat`;
  const before = {
    main: statCpu(self, 14),
    process: process.cpuUsage(),
    children: statCpu("/proc/self/stat", 16),
    wall: performance.now(),
  };
  await run();
  const cpu = process.cpuUsage(before.process);
  return {
    wall: (performance.now() - before.wall) / 1000,
    main: statCpu(self, 14) - before.main,
    process: (cpu.user + cpu.system) / 1e6,
    children: statCpu("/proc/self/stat", 16) - before.children,
  };
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

async function main(): Promise<void> {
  const chunker = chunkerPath(undefined).path;
  if (!chunker) throw new Error("wsd-chunker is not built (npm run build:native)");
  const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? tmpdir(), "wsd-packs-bench-"));
  let moto: Awaited<ReturnType<typeof startMotoServer>> | undefined;
  const s3Stores: S3ObjectStore[] = [];
  try {
    const src = path.join(work, "workspace");
    const bytes = generateWorkspace(src, scale);
    execFileSync("sh", ["-c", `tar -C '${src}' -cf - . > /dev/null`]);
    process.stderr.write(`workspace: ${(bytes / 2 ** 20).toFixed(0)} MiB, load ${load()}\n`);
    if (withS3) moto = await startMotoServer();
    const samples = new Map<string, Sample[]>();
    let n = 0;
    const backups: [
      string,
      () => Promise<{ objects: ObjectStore; cleanup: () => Promise<void> }>,
    ][] = [
      [
        "local",
        async () => {
          const root = path.join(work, `store-${n++}`);
          return {
            objects: new LocalDirectoryObjectStore(root),
            cleanup: async () => rmSync(root, { recursive: true, force: true }),
          };
        },
      ],
    ];
    if (moto) {
      const endpoint = moto.endpoint;
      backups.push([
        "moto",
        async () => {
          const s3 = new S3ObjectStore({
            endpoint,
            region: "us-east-1",
            forcePathStyle: true,
            accessKeyId: "bench",
            secretAccessKey: "bench",
            bucket: `packs-bench-${n++}`,
            createBucket: true,
          });
          s3Stores.push(s3);
          return {
            objects: s3,
            cleanup: async () => {
              for await (const o of s3.list("")) await s3.delete(o.key);
            },
          };
        },
      ]);
    }
    {
      // warm-up (the walk's worker, the JIT, the page cache), not counted
      const { objects, cleanup } = await (backups[0]?.[1] ?? (() => Promise.reject()))();
      const store = new FormatContentStore(objects, { format: "chunked", chunkerPath: chunker });
      await store.backup({ id: "bench", owner: "warm-up", metaId: "bench-meta" }, src);
      await cleanup();
    }
    const cliFile = path.join(work, "cli.tar.zst");
    for (let round = 0; round < rounds; round++) {
      const cli = await measured(async () =>
        execFileSync("sh", ["-c", `tar -C '${src}' -cf - . | zstd -q -1 -T0 > '${cliFile}'`]),
      );
      samples.set("cli", [...(samples.get("cli") ?? []), cli]);
      process.stderr.write(
        `  round ${round} cli: wall ${cli.wall.toFixed(2)} s, children ${cli.children.toFixed(2)} CPU-s\n`,
      );
      rmSync(cliFile);
      for (const [where, make] of backups) {
        const ways = round % 2 === 0 ? ["stream", "file"] : ["file", "stream"];
        for (const way of ways) {
          const { objects, cleanup } = await make();
          const store = new FormatContentStore(way === "stream" ? streamOnly(objects) : objects, {
            format: "chunked",
            chunkerPath: chunker,
          });
          const ws = { id: "bench", owner: `owner-${round}-${way}`, metaId: "bench-meta" };
          const s = await measured(() => store.backup(ws, src));
          await cleanup();
          const name = `${where} ${way}`;
          samples.set(name, [...(samples.get(name) ?? []), s]);
          process.stderr.write(
            `  round ${round} ${name}: wall ${s.wall.toFixed(2)} s, main thread ${s.main.toFixed(2)} CPU-s, process ${s.process.toFixed(2)} CPU-s, children ${s.children.toFixed(2)} CPU-s (load ${load()})\n`,
          );
        }
      }
    }
    const range = (v: number[]) =>
      `${Math.min(...v).toFixed(2)}-${Math.max(...v).toFixed(2)}`.padStart(11);
    console.log(
      `\nfirst chunked backup, ${(bytes / 2 ** 20).toFixed(0)} MiB, ${rounds} rounds, load after ${load()}`,
    );
    console.log(
      "| store, packs  | wall s      | main thread CPU-s | process CPU-s | children CPU-s |",
    );
    console.log(
      "| ------------- | ----------- | ----------------- | ------------- | -------------- |",
    );
    for (const [name, v] of samples) {
      console.log(
        `| ${name.padEnd(13)} | ${range(v.map((s) => s.wall))} | ${range(v.map((s) => s.main)).padStart(17)} | ${range(v.map((s) => s.process)).padStart(13)} | ${range(v.map((s) => s.children)).padStart(14)} |`,
      );
    }
  } finally {
    for (const s of s3Stores) s.destroy();
    await moto?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
