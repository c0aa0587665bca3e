/**
 * Chunked restore profile (issue 12): `npx tsx bench/chunked-restore.bench.ts` (from apps/ws-daemon,
 * BENCH_SCALE as in bench/support/workspace.ts, BENCH_ROUNDS rounds, default 3; BENCH_DIR for the
 * work directory, e.g. /dev/shm to leave the disk out). Backs the benchmark workspace up in the
 * full format, with the native chunker (framed packs, as the daemon writes them when the chunker is
 * built) and with the JavaScript chunker (unframed packs), then times, interleaved in alternating
 * order each round: `zstd -d | tar -x`, the full tar.zst restore, the chunked restores, and with
 * BENCH_PARTS=1 their parts alone (reading and verifying every chunk without extracting; extracting
 * the tar stream from memory), and `restic restore` of the same tree (restic 0.14, repository
 * beside ours). BENCH_S3=1 puts the store (and restic's s3: repository) on a moto_server instead
 * of a local directory. Every row prints wall seconds and CPU seconds: of the main thread, of the busiest
 * other thread (the extract worker), of all other threads (V8 and libuv pools), and of the child
 * processes (zstd, wsd-unchunk, tar).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import { extractTarStream } from "../src/archive/index.js";
import { type ChunkIndex, parseChunkIndex } from "../src/chunks/index.js";
import { readChunks } from "../src/storage/chunk-reader.js";
import {
  FormatContentStore,
  LocalDirectoryObjectStore,
  type ObjectStore,
  S3ObjectStore,
} from "../src/storage/index.js";
import { getBytes } from "../src/storage/object-store.js";
import { chunkerPath } from "../src/wiring/index.js";
import { frameBackup } from "../test/storage/framed-backup.js";
import { startMotoServer } from "../test/support/moto-server.js";
import { cpuBetween, cpuSnapshot } from "./support/thread-cpu.js";
import { generateWorkspace } from "./support/workspace.js";

const scale = Number(process.env.BENCH_SCALE ?? "0.25");
const rounds = Number(process.env.BENCH_ROUNDS ?? "3");
const MiB = 1024 * 1024;

const sh = (cmd: string, env: NodeJS.ProcessEnv = process.env): void =>
  void execFileSync("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "inherit"], env });

const haveRestic = (() => {
  try {
    execFileSync("restic", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    process.stderr.write("restic not on PATH: its row is skipped\n");
    return false;
  }
})();

type Cpu = ReturnType<typeof cpuBetween>;

/** The index of a workspace's chunked backup. */
async function readIndexOf(
  objects: ObjectStore,
  ws: { owner: string; metaId: string },
): Promise<ChunkIndex> {
  for await (const o of objects.list(`workspaces/${ws.owner}/${ws.metaId}/backup/full/index-`)) {
    return parseChunkIndex(await getBytes(objects, o.key), o.key);
  }
  throw new Error("no chunk index was written");
}

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? tmpdir(), "wsd-restore-bench-"));
  const moto = process.env.BENCH_S3 === "1" ? await startMotoServer() : undefined;
  try {
    const src = path.join(work, "workspace");
    const bytes = generateWorkspace(src, scale);
    const objects: ObjectStore = moto
      ? new S3ObjectStore({
          endpoint: moto.endpoint,
          region: "us-east-1",
          bucket: "bench",
          forcePathStyle: true,
          accessKeyId: "bench",
          secretAccessKey: "bench",
          createBucket: true,
        })
      : new LocalDirectoryObjectStore(path.join(work, "store"));
    const native = chunkerPath(undefined).path;
    if (!native) process.stderr.write("native chunker not built: its rows are skipped\n");
    // one owner per chunker: chunks an owner has already stored are reused, not written again
    const nativeWs = { id: "bench", owner: "native-owner", metaId: "native" };
    const jsWs = { id: "bench", owner: "js-owner", metaId: "js" };
    const fullWs = { id: "bench", owner: "full-owner", metaId: "full" };
    const framedWs = { ...jsWs, metaId: "framed" };
    const chunked = new FormatContentStore(objects, { format: "chunked" });
    const inProcess = new FormatContentStore(objects, { format: "chunked", unchunkHelper: false });
    const full = new FormatContentStore(objects);
    if (native) {
      await new FormatContentStore(objects, { format: "chunked", chunkerPath: native }).backup(
        nativeWs,
        src,
      );
    }
    await chunked.backup(jsWs, src);
    // the JavaScript chunker's backup again, rewritten onto one framed pack
    await chunked.backup(framedWs, src);
    await frameBackup(objects, chunked, framedWs);
    await full.backup(fullWs, src);
    const cliFile = path.join(work, "cli.tar.zst");
    sh(`tar -C '${src}' -cf - . | zstd -q -1 -T0 > '${cliFile}'`);
    // restic's repository in the same kind of store: a directory beside ours, or the same moto
    const resticEnv = {
      ...process.env,
      RESTIC_PASSWORD: "bench",
      RESTIC_CACHE_DIR: path.join(work, "restic-cache"),
      AWS_ACCESS_KEY_ID: "bench",
      AWS_SECRET_ACCESS_KEY: "bench",
      AWS_DEFAULT_REGION: "us-east-1",
    };
    const repo = moto ? `s3:${moto.endpoint}/bench-restic` : path.join(work, "restic-repo");
    if (haveRestic) {
      sh(`restic init -q -r '${repo}'`, resticEnv);
      sh(`restic -q -r '${repo}' backup --host bench '${src}'`, resticEnv);
    }
    const index = await readIndexOf(objects, jsWs);
    process.stderr.write(
      `workspace ${(bytes / MiB).toFixed(0)} MiB, ${index.chunks.length} chunks in ${index.packs.length} packs (JavaScript chunker), store ${moto ? "moto S3" : "local"}\n`,
    );
    const parts = process.env.BENCH_PARTS === "1";
    const inMemory: Buffer[] = [];
    if (parts) for await (const c of readChunks(objects, index)) inMemory.push(Buffer.from(c));

    let n = 0;
    const fresh = () => {
      const dir = path.join(work, `restore-${n++}`);
      mkdirSync(dir);
      return dir;
    };
    const all: [string, () => Promise<unknown> | unknown][] = [
      ["zstd -d | tar -x", () => sh(`zstd -q -d -c '${cliFile}' | tar -C '${fresh()}' -xf -`)],
      ["full tar.zst restore", () => full.restoreBackup(fullWs, fresh())],
      [
        "restic restore",
        () => sh(`restic -q -r '${repo}' restore latest --target '${fresh()}'`, resticEnv),
      ],
      ["chunked restore, native chunker", () => chunked.restoreBackup(nativeWs, fresh())],
      ["chunked restore, JS chunker", () => chunked.restoreBackup(jsWs, fresh())],
      ["JS chunker, no helper", () => inProcess.restoreBackup(jsWs, fresh())],
      ["one framed pack", () => chunked.restoreBackup(framedWs, fresh())],
      ["one framed pack, no helper", () => inProcess.restoreBackup(framedWs, fresh())],
    ];
    // without the native chunker its row has no backup to restore, without restic its own
    if (!native) all.splice(3, 1);
    if (!haveRestic) all.splice(2, 1);
    if (parts) {
      all.push(
        [
          "readChunks drained",
          async () => {
            for await (const _ of readChunks(objects, index));
          },
        ],
        [
          "extractTarStream from memory",
          () =>
            extractTarStream(
              (async function* () {
                yield* inMemory;
              })(),
              fresh(),
            ),
        ],
      );
    }
    const times = new Map<string, number[]>(all.map(([name]) => [name, []]));
    const cpuTimes = new Map<string, Cpu[]>(all.map(([name]) => [name, []]));
    const loads: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? all : [...all].reverse();
      for (const [name, run] of order) {
        execFileSync("sync");
        const c0 = cpuSnapshot();
        const t0 = performance.now();
        await run();
        const ms = performance.now() - t0;
        const cpu = cpuBetween(c0, cpuSnapshot());
        times.get(name)?.push(ms);
        cpuTimes.get(name)?.push(cpu);
        loads.push(loadavg()[0] ?? 0);
        process.stderr.write(
          `  round ${r} ${name}: ${(ms / 1000).toFixed(2)} s, CPU ${format(cpu)}\n`,
        );
        for (let i = 0; i < n; i++)
          rmSync(path.join(work, `restore-${i}`), { recursive: true, force: true });
      }
    }
    const cli = times.get("zstd -d | tar -x") ?? [];
    console.log(
      `\nchunked restore: ${(bytes / MiB).toFixed(0)} MiB, ${moto ? "moto S3" : "local"} store, ${rounds} rounds, ${cpus().length} CPUs, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}`,
    );
    console.log(
      "| row | wall s | vs cli (wall) | CPU s: main + worker + other threads + children = total |",
    );
    for (const [name, ms] of times) {
      const ratios = ms.map((t, i) => (cli[i] ?? 0) / t);
      const cpu = cpuTimes.get(name) ?? [];
      console.log(
        `| ${name} | ${range(ms.map((t) => t / 1000))} | ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}x | ${cpu.map(format).join("; ")} |`,
      );
    }
  } finally {
    await moto?.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

const range = (xs: number[]) => `${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)}`;

const format = (c: Cpu) =>
  `${c.main.toFixed(2)} + ${c.busiest.toFixed(2)} + ${c.others.toFixed(2)} + ${c.children.toFixed(2)} = ${(c.main + c.busiest + c.others + c.children).toFixed(2)}`;

await main();
