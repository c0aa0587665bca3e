/**
 * Chunked-format benchmark (issue 12): `npx tsx bench/chunked.bench.ts` (from apps/ws-daemon), also
 * run by `npm run bench` after the archive benchmark. One run of each row, contenders interleaved
 * in alternating order, warm page cache, on the workspace of bench/support/workspace.ts
 * (BENCH_SCALE=1: ~1 GiB, 22k entries). Rows, with ratios printed as other/ours time (>1 = ours
 * faster) or ours/other bytes:
 *   first backup            ours chunked vs tar | zstd -1 -T0 > file, and vs restic backup
 *   unchanged re-backup     vs restic (and vs our own first backup: the 10x target)
 *   1 % of files changed    vs restic
 *   100 MiB added           vs restic
 *   restore                 vs zstd -d | tar -x, and vs restic restore
 *   bytes stored after five more backups with small changes, vs restic's repository
 *   first backup, unchanged re-backup and restore on moto_server S3, vs the full tar.zst format
 *   and vs restic with an s3: repository on the same moto (BENCH_S3=0 skips)
 * Before them (with the native chunker): the first backup with the chunker's own walk, with the
 * JavaScript walk feeding it, and `tar | zstd -1 -T0`, BENCH_WALK_ROUNDS rounds (default 3),
 * wall and CPU seconds; BENCH_ONLY=walks stops after that table.
 * restic 0.14 (Debian: `apt-get install -y --no-install-recommends restic`; its recommended fuse
 * package adds a mount.fuse helper that breaks the FUSE-based endless-backup test) keeps its
 * repository on the same disk; RESTIC_PASSWORD is a constant. Without restic on PATH its rows are
 * skipped with a note.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import {
  type ChunkedArchiveStats,
  FormatContentStore,
  LocalDirectoryObjectStore,
  S3ObjectStore,
} from "../src/storage/index.js";
import { chunkerPath } from "../src/wiring/index.js";
import { startMotoServer } from "../test/support/moto-server.js";
import { compareFirstBackupWalks } from "./support/first-backup-walks.js";
import { generateWorkspace } from "./support/workspace.js";

const scale = Number(process.env.BENCH_SCALE ?? "1");

/** The chunker the daemon would use (native wsd-chunker when built); BENCH_CHUNKER=js forces the JavaScript one. */
function benchChunker(): { chunkerPath?: string } {
  const found = process.env.BENCH_CHUNKER === "js" ? undefined : chunkerPath(undefined).path;
  process.stderr.write(`chunker: ${found ?? "JavaScript"}\n`);
  return found ? { chunkerPath: found } : {};
}
const withS3 = process.env.BENCH_S3 !== "0";
const MiB = 1024 * 1024;

const sh = (cmd: string, env: NodeJS.ProcessEnv = process.env): void =>
  void execFileSync("sh", ["-c", cmd], { stdio: ["ignore", "ignore", "inherit"], env });

async function timed(run: () => Promise<unknown> | unknown): Promise<number> {
  execFileSync("sync");
  const t0 = performance.now();
  await run();
  return performance.now() - t0;
}

/** Runs each contender once, in the given order; returns milliseconds by name. */
async function round(
  label: string,
  contenders: [string, (() => Promise<unknown> | unknown) | undefined][],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const [name, run] of contenders) {
    if (!run) continue; // a contender that is not installed
    const ms = await timed(run);
    out.set(name, ms);
    process.stderr.write(`  ${label} ${name}: ${(ms / 1000).toFixed(2)} s\n`);
  }
  return out;
}

const du = (dir: string) =>
  Number(execFileSync("du", ["-sb", dir], { encoding: "utf8" }).split("\t")[0]);

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(process.env.BENCH_DIR ?? tmpdir(), "wsd-chunked-bench-"));
  const rows: string[] = [];
  const row = (name: string, ours: number, other: number | undefined, unit: "s" | "MiB") => {
    const f = (v: number) => (unit === "s" ? (v / 1000).toFixed(2) : (v / MiB).toFixed(1));
    const ratio =
      other === undefined ? "" : `${(unit === "s" ? other / ours : ours / other).toFixed(2)}x`;
    rows.push(
      `| ${name.replaceAll("|", "\\|").padEnd(52)} | ${f(ours).padStart(8)} | ${(other === undefined ? "" : f(other)).padStart(8)} | ${ratio.padStart(7)} |`,
    );
  };
  let moto: Awaited<ReturnType<typeof startMotoServer>> | undefined;
  let s3: S3ObjectStore | undefined;
  try {
    const src = path.join(work, "workspace");
    process.stderr.write(`generating workspace (scale ${scale}) in ${src}\n`);
    const bytes = generateWorkspace(src, scale);
    sh(`tar -C '${src}' -cf - . > /dev/null`);
    const native = benchChunker().chunkerPath;
    const walkRounds = Number(process.env.BENCH_WALK_ROUNDS ?? "3");
    if (native && walkRounds > 0) {
      const table = await compareFirstBackupWalks(src, work, native, walkRounds);
      console.log(`\n${table.join("\n")}\n`);
      if (process.env.BENCH_ONLY === "walks") return;
    }
    const loadBefore = loadavg()
      .map((l) => l.toFixed(2))
      .join(" ");
    const repo = path.join(work, "restic-repo");
    const resticEnv = {
      ...process.env,
      RESTIC_PASSWORD: "bench",
      RESTIC_CACHE_DIR: path.join(work, "restic-cache"),
    };
    const haveRestic = (() => {
      try {
        execFileSync("restic", ["version"], { stdio: "ignore" });
        return true;
      } catch {
        process.stderr.write("restic is not installed: its rows are skipped\n");
        return false;
      }
    })();
    if (haveRestic) sh(`restic init -q -r '${repo}'`, resticEnv);
    const restic = (args: string) =>
      haveRestic ? () => sh(`restic -q -r '${repo}' ${args}`, resticEnv) : undefined;
    const resticBackup = restic(`backup --host bench '${src}'`);
    const storeDir = path.join(work, "store");
    const stats: ChunkedArchiveStats[] = [];
    const store = new FormatContentStore(new LocalDirectoryObjectStore(storeDir), {
      format: "chunked",
      onChunkedArchive: (_op, s) => stats.push(s),
      ...benchChunker(),
    });
    const ws = { id: "bench", owner: "bench-owner", metaId: "bench-meta" };
    const ours = () => store.backup(ws, src);
    const cliFile = path.join(work, "cli.tar.zst");

    const first = await round("first backup", [
      ["cli", () => sh(`tar -C '${src}' -cf - . | zstd -q -1 -T0 > '${cliFile}'`)],
      ["ours", ours],
      ["restic", resticBackup],
    ]);
    const oursFirst = first.get("ours") ?? 0;
    row("first backup vs tar | zstd -1 -T0", oursFirst, first.get("cli"), "s");
    row("first backup vs restic", oursFirst, first.get("restic"), "s");

    const unchanged = await round("unchanged re-backup", [
      ["restic", resticBackup],
      ["ours", ours],
    ]);
    row("unchanged re-backup vs restic", unchanged.get("ours") ?? 0, unchanged.get("restic"), "s");
    row(
      "unchanged re-backup vs our first backup (target 10x)",
      unchanged.get("ours") ?? 0,
      oursFirst,
      "s",
    );

    // 1 % of the files get a line appended
    const files = execFileSync("find", [src, "-type", "f"], {
      encoding: "utf8",
      maxBuffer: 1 << 28,
    })
      .trim()
      .split("\n");
    const changeSome = (tag: string, share: number) => {
      for (let i = 0; i < files.length; i += Math.round(1 / share)) {
        appendFileSync(files[i] as string, `// ${tag}\n`);
      }
    };
    changeSome("one percent", 0.01);
    const onePercent = await round("1% changed", [
      ["ours", ours],
      ["restic", resticBackup],
    ]);
    row(
      "1% of files changed vs restic",
      onePercent.get("ours") ?? 0,
      onePercent.get("restic"),
      "s",
    );
    row(
      "1% of files changed vs our first backup (target 10x)",
      onePercent.get("ours") ?? 0,
      oursFirst,
      "s",
    );

    mkdirSync(path.join(src, "added"), { recursive: true });
    for (let i = 0; i < Math.max(1, Math.round(100 * Math.min(scale, 1))); i++) {
      appendFileSync(path.join(src, "added", "new.bin"), randomBytes(MiB));
    }
    const added = await round("100 MiB added", [
      ["restic", resticBackup],
      ["ours", ours],
    ]);
    row("100 MiB added vs restic", added.get("ours") ?? 0, added.get("restic"), "s");
    sh(`tar -C '${src}' -cf - . | zstd -q -1 -T0 > '${cliFile}'`);

    let restores = 0;
    const fresh = () => {
      const dir = path.join(work, `restore-${restores++}`);
      mkdirSync(dir);
      return dir;
    };
    const restore = await round("restore", [
      ["cli", () => sh(`zstd -q -d -c '${cliFile}' | tar -C '${fresh()}' -xf -`)],
      ["ours", () => store.restoreBackup(ws, fresh())],
      ["restic", restic(`restore latest --target '${fresh()}'`)],
    ]);
    row("restore vs zstd -d | tar -x", restore.get("ours") ?? 0, restore.get("cli"), "s");
    row("restore vs restic restore", restore.get("ours") ?? 0, restore.get("restic"), "s");
    for (const d of readdirSync(work).filter((n) => n.startsWith("restore-"))) {
      rmSync(path.join(work, d), { recursive: true, force: true });
    }

    for (let i = 0; i < 5; i++) {
      changeSome(`small change ${i}`, 0.002);
      writeFileSync(path.join(src, `note-${i}.txt`), `change ${i}\n`);
      await ours();
      resticBackup?.();
    }
    row(
      "bytes stored after 9 backups (5 small changes) vs restic",
      du(storeDir),
      haveRestic ? du(repo) : undefined,
      "MiB",
    );
    const last = stats[stats.length - 1];
    process.stderr.write(`  last small-change backup: ${JSON.stringify(last)}\n`);

    if (withS3) {
      moto = await startMotoServer();
      s3 = new S3ObjectStore({
        endpoint: moto.endpoint,
        region: "us-east-1",
        bucket: "bench",
        forcePathStyle: true,
        accessKeyId: "bench",
        secretAccessKey: "bench",
        createBucket: true,
      });
      const remote = new FormatContentStore(s3, { format: "chunked", ...benchChunker() });
      const full = new FormatContentStore(s3);
      // restic's own S3 backend against the same moto (a bucket of its own, a cache of its own)
      const resticS3Env = {
        ...resticEnv,
        RESTIC_CACHE_DIR: path.join(work, "restic-s3-cache"),
        AWS_ACCESS_KEY_ID: "bench",
        AWS_SECRET_ACCESS_KEY: "bench",
        AWS_DEFAULT_REGION: "us-east-1",
      };
      const s3Repo = `s3:${moto.endpoint}/bench-restic`;
      if (haveRestic) sh(`restic init -q -r '${s3Repo}'`, resticS3Env);
      const resticS3 = (args: string) =>
        haveRestic ? () => sh(`restic -q -r '${s3Repo}' ${args}`, resticS3Env) : undefined;
      const s3Rows = await round("moto S3", [
        ["full backup", () => full.backup({ ...ws, metaId: "full" }, src)],
        ["chunked first backup", () => remote.backup(ws, src)],
        ["restic first backup", resticS3(`backup --host bench '${src}'`)],
        ["chunked unchanged re-backup", () => remote.backup(ws, src)],
        ["restic unchanged re-backup", resticS3(`backup --host bench '${src}'`)],
        ["full restore", () => full.restoreBackup({ ...ws, metaId: "full" }, fresh())],
        ["chunked restore", () => remote.restoreBackup(ws, fresh())],
        ["restic restore", resticS3(`restore latest --target '${fresh()}'`)],
      ]);
      const get = (k: string) => s3Rows.get(k) ?? 0;
      row(
        "moto S3: chunked first backup vs full tar.zst",
        get("chunked first backup"),
        get("full backup"),
        "s",
      );
      row(
        "moto S3: chunked first backup vs restic",
        get("chunked first backup"),
        s3Rows.get("restic first backup"),
        "s",
      );
      row(
        "moto S3: unchanged re-backup vs full tar.zst",
        get("chunked unchanged re-backup"),
        get("full backup"),
        "s",
      );
      row(
        "moto S3: unchanged re-backup vs restic",
        get("chunked unchanged re-backup"),
        s3Rows.get("restic unchanged re-backup"),
        "s",
      );
      row(
        "moto S3: chunked restore vs full tar.zst",
        get("chunked restore"),
        get("full restore"),
        "s",
      );
      row(
        "moto S3: chunked restore vs restic restore",
        get("chunked restore"),
        s3Rows.get("restic restore"),
        "s",
      );
    }

    console.log(
      `\nchunked format: workspace ${(bytes / MiB).toFixed(0)} MiB, ${files.length} files; one run each, interleaved; ${cpus().length} CPUs, load average before ${loadBefore}, after ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    console.log(`| ${"row".padEnd(52)} |     ours |    other |   ratio |`);
    console.log(`|${"-".repeat(54)}|----------|----------|---------|`);
    console.log(
      "(times in s, ratio = other/ours: >1 means ours is faster; bytes in MiB, ratio = ours/other)",
    );
    for (const r of rows) console.log(r);
  } finally {
    s3?.destroy();
    await moto?.stop();
    if (process.env.BENCH_KEEP !== "1") rmSync(work, { recursive: true, force: true });
  }
}

await main();
