/**
 * `npm run bench:rpc`: unary call rate and latency of the daemon's node API against a bare
 * @grpc/grpc-js server answering the same IsWorkspaceExists from a Map. Both run as their own
 * processes; one independent grpc-js client (this process) drives them at the same concurrency
 * in alternating rounds, so load from elsewhere on the machine hits both alike.
 *
 * Server CPU time per call (from /proc) is printed too: unlike rates it hardly moves with load
 * from other work; and what each server's garbage collector did per 1000 calls (scavenges, bytes
 * promoted to the old generation, full collections, pause), from a preload (support/gc-report.mjs). BENCH_RPC_CONCURRENCY (64), BENCH_RPC_SECONDS per round (4), BENCH_RPC_ROUNDS per side (3),
 * BENCH_RPC_WARMUP_SECONDS (2) of unmeasured calls per side first; BENCH_RPC_BASELINE_ENTRY: see main.
 */
import { type ChildProcess, spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  unlinkSync,
} from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { freePort } from "@ws-daemon/test-support";
import { loadContentService } from "./support/grpc-protos.js";

const concurrency = Number(process.env.BENCH_RPC_CONCURRENCY ?? "64");
const seconds = Number(process.env.BENCH_RPC_SECONDS ?? "4");
const rounds = Number(process.env.BENCH_RPC_ROUNDS ?? "3");
const warmupSeconds = Number(process.env.BENCH_RPC_WARMUP_SECONDS ?? "2");
const here = path.dirname(fileURLToPath(import.meta.url));
const tsx = createRequire(import.meta.url).resolve("tsx");

interface Served {
  name: string;
  address: string;
  child: ChildProcess;
  /** Where the child's GC preload writes its report (see support/gc-report.mjs). */
  gcFile: string;
}

/** What a server's garbage collector did during one measured round. */
interface GcReport {
  scavenges: number;
  promotedBytes: number;
  markCompacts: number;
  pauseMs: number;
}

/**
 * The bundled daemon as it ships (run `npx nx run @ws-daemon/daemon:build` first); the sources
 * through tsx only when there is no bundle (then module loading hooks add to the figures).
 */
function daemonEntry(): string {
  const bundle = path.join(here, "../dist/main.js");
  if (existsSync(bundle)) return bundle;
  process.stderr.write("no dist/main.js: measuring the sources through tsx (build first)\n");
  return path.join(here, "../src/main.ts");
}

/** Waits until something accepts TCP connections on 127.0.0.1:port. */
async function untilListening(port: number): Promise<void> {
  for (const until = Date.now() + 60_000; Date.now() < until; ) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, "127.0.0.1", () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/**
 * Starts a child; resolves with the first stdout line that `pick` turns into an address, or at
 * once with 127.0.0.1 when `pick` never will (the caller waits for the port itself).
 */
function startChild(
  name: string,
  args: string[],
  cwd: string,
  pick: (line: string) => string | undefined,
  port?: number,
): Promise<Served> {
  // extra node flags (e.g. --cpu-prof) for our daemon or for the bare server
  const flags =
    name === "daemon" || name === "baseline daemon"
      ? process.env.BENCH_RPC_NODE_ARGS
      : name === "bare grpc-js"
        ? process.env.BENCH_RPC_BARE_NODE_ARGS
        : undefined;
  const nodeArgs = flags?.split(" ").filter(Boolean) ?? [];
  const loader = args[0]?.endsWith(".ts") ? ["--import", tsx] : [];
  const gcFile = path.join(cwd, `${name.replaceAll(" ", "-")}.gc.json`);
  const gcReport = ["--import", path.join(here, "support/gc-report.mjs")];
  // The daemon's log goes to a file, as a container runtime keeps it: a pipe to this process
  // would make the daemon wait for the busy client to read it.
  const log = port !== undefined ? openSync(path.join(cwd, `${name}.log`), "w") : "pipe";
  const child = spawn(process.execPath, [...nodeArgs, ...gcReport, ...loader, ...args], {
    cwd,
    stdio: ["ignore", log, "inherit"],
    env: { ...process.env, BENCH_RPC_GC_FILE: gcFile },
  });
  if (typeof log === "number") closeSync(log);
  if (port !== undefined) {
    return Promise.resolve({ name, address: `127.0.0.1:${port}`, child, gcFile });
  }
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
    if (!child.stdout) return reject(new Error("no stdout"));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const address = pick(line);
      if (address) resolve({ name, address, child, gcFile });
    });
  });
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat (100 ticks per second). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Round {
  /** CPU seconds the server used during the round. */
  cpu: number;
  gc: GcReport | undefined;
  calls: number;
  errors: number;
  latenciesMs: number[];
  seconds: number;
}

/** Asks the server's GC preload to start counting, or to stop and report. */
const signalGcReport = (served: Served) => served.child.kill("SIGUSR2");

/** The report the server writes after its second SIGUSR2 (undefined if none comes within 5 s). */
async function gcReportOf(served: Served): Promise<GcReport | undefined> {
  for (let i = 0; i < 100; i++) {
    if (existsSync(served.gcFile)) {
      const report = JSON.parse(readFileSync(served.gcFile, "utf8")) as GcReport;
      unlinkSync(served.gcFile);
      return report;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

/**
 * `concurrency` callers in a loop for `seconds`, each waiting for its answer before the next
 * call; a measured round also collects the server's GC report.
 */
async function drive(served: Served, forSeconds = seconds, measured = true): Promise<Round> {
  const { address } = served;
  const pid = served.child.pid;
  const Client = loadContentService();
  const client = new Client(address, grpc.credentials.createInsecure());
  const call = () =>
    new Promise<void>((resolve, reject) =>
      (
        client as unknown as {
          isWorkspaceExists(req: { id: string }, cb: (err: Error | null) => void): void;
        }
      ).isWorkspaceExists({ id: "ws-bench" }, (err) => (err ? reject(err) : resolve())),
    );
  await call(); // connection set up outside the measurement
  if (measured) signalGcReport(served);
  const latenciesMs: number[] = [];
  let errors = 0;
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const until = started + forSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const t0 = performance.now();
        try {
          await call();
          latenciesMs.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuSeconds(pid) - cpuBefore;
  if (measured) signalGcReport(served);
  client.close();
  const gc = measured ? await gcReportOf(served) : undefined;
  return { cpu, gc, calls: latenciesMs.length, errors, latenciesMs, seconds: elapsed };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

interface RoundFigures {
  rate: number;
  p50: number;
  p99: number;
  cpuUsPerCall: number;
}

function figures(r: Round): RoundFigures {
  const sorted = [...r.latenciesMs].sort((a, b) => a - b);
  return {
    rate: r.calls / r.seconds,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    cpuUsPerCall: (r.cpu / r.calls) * 1e6,
  };
}

function summary(rs: Round[]) {
  const all = rs.flatMap((r) => r.latenciesMs).sort((a, b) => a - b);
  const rates = rs.map((r) => r.calls / r.seconds);
  return {
    bestRate: Math.max(...rates),
    rates,
    p50: percentile(all, 50),
    p99: percentile(all, 99),
    cpuUsPerCall: (rs.reduce((n, r) => n + r.cpu, 0) / rs.reduce((n, r) => n + r.calls, 0)) * 1e6,
    errors: rs.reduce((n, r) => n + r.errors, 0),
  };
}

const range = (values: number[], digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`;

/**
 * One row per round with both servers side by side (the two halves of a round ran back to
 * back, so they saw about the same load from elsewhere), then the range of every column.
 */
function printRounds(ours: Round[], bare: Round[]): void {
  const fmt = (n: number) => n.toFixed(2);
  console.log(
    "| round | rate ratio | p99 ratio | ours calls/s | bare calls/s | ours p50/p99 ms | bare p50/p99 ms | ours CPU µs/call | bare CPU µs/call |",
  );
  console.log("|---|---|---|---|---|---|---|---|---|");
  const rows = ours.map((r, i) => {
    const o = figures(r);
    const b = bare[i] ? figures(bare[i]) : undefined;
    const row = {
      rateRatio: b ? o.rate / b.rate : Number.NaN,
      p99Ratio: b ? o.p99 / b.p99 : Number.NaN,
      o,
      b,
    };
    console.log(
      `| ${i + 1} | ${fmt(row.rateRatio)} | ${fmt(row.p99Ratio)} | ${o.rate.toFixed(0)} | ${b?.rate.toFixed(0)} | ${fmt(o.p50)}/${fmt(o.p99)} | ${b ? `${fmt(b.p50)}/${fmt(b.p99)}` : ""} | ${o.cpuUsPerCall.toFixed(0)} | ${b?.cpuUsPerCall.toFixed(0)} |`,
    );
    return row;
  });
  const paired = rows.filter((r) => r.b !== undefined);
  if (paired.length === 0) return;
  const of = (pick: (r: (typeof paired)[number]) => number) => paired.map(pick);
  console.log(
    `| range | ${range(
      of((r) => r.rateRatio),
      2,
    )} | ${range(
      of((r) => r.p99Ratio),
      2,
    )} | ${range(
      of((r) => r.o.rate),
      0,
    )} | ${range(
      of((r) => r.b?.rate ?? Number.NaN),
      0,
    )} | p99 ${range(
      of((r) => r.o.p99),
      1,
    )} | p99 ${range(
      of((r) => r.b?.p99 ?? Number.NaN),
      1,
    )} | ${range(
      of((r) => r.o.cpuUsPerCall),
      0,
    )} | ${range(
      of((r) => r.b?.cpuUsPerCall ?? Number.NaN),
      0,
    )} |`,
  );
}

/** The daemon from `entry`, on a port of its own, logging (at the default level) to a file. */
async function startDaemonChild(name: string, entry: string, work: string): Promise<Served> {
  const port = await freePort();
  const daemon = await startChild(
    name,
    [
      entry,
      `--listen.port=${port}`,
      "--metrics.enabled=false",
      "--log.format=json",
      ...(process.env.BENCH_RPC_DAEMON_ARGS?.split(" ").filter(Boolean) ?? []),
    ],
    work,
    () => undefined,
    port,
  );
  await untilListening(port);
  return daemon;
}

/** Per server, what its garbage collector did per 1000 calls over all measured rounds. */
function printGc(named: [string, Round[]][]): void {
  console.log(
    "| server | scavenges | promoted KB | mark-compacts | GC pause ms | (per 1000 calls; rounds reported) |",
  );
  console.log("|---|---|---|---|---|---|");
  for (const [name, rs] of named) {
    const reported = rs.filter((r) => r.gc !== undefined);
    const calls = reported.reduce((n, r) => n + r.calls, 0);
    const per1000 = (pick: (g: GcReport) => number) =>
      (reported.reduce((n, r) => n + (r.gc ? pick(r.gc) : 0), 0) / Math.max(1, calls)) * 1000;
    console.log(
      `| ${name} | ${per1000((g) => g.scavenges).toFixed(2)} | ${(per1000((g) => g.promotedBytes) / 1024).toFixed(0)} | ${per1000((g) => g.markCompacts).toFixed(2)} | ${per1000((g) => g.pauseMs).toFixed(1)} | ${reported.length}/${rs.length} |`,
    );
  }
}

function printSummary(named: [string, ReturnType<typeof summary>][]): void {
  console.log("| server | best calls/s | p50 ms | p99 ms | server CPU µs/call | errors |");
  console.log("|---|---|---|---|---|---|");
  for (const [name, s] of named) {
    console.log(
      `| ${name} | ${s.bestRate.toFixed(0)} | ${s.p50.toFixed(2)} | ${s.p99.toFixed(2)} | ${s.cpuUsPerCall.toFixed(0)} | ${s.errors} |`,
    );
  }
}

/**
 * BENCH_RPC_BASELINE_ENTRY (a daemon bundle built from another commit) adds that daemon as a
 * third server in the same rounds: before and after a change, measured interleaved.
 */
async function main(): Promise<void> {
  const loadAtStart = loadavg();
  const work = mkdtempSync(path.join(tmpdir(), "wsd-bench-rpc-"));
  const served: Served[] = [];
  try {
    const daemon = await startDaemonChild("daemon", daemonEntry(), work);
    served.push(daemon);
    const baselineEntry = process.env.BENCH_RPC_BASELINE_ENTRY;
    const baseline = baselineEntry
      ? await startDaemonChild("baseline daemon", baselineEntry, work)
      : undefined;
    if (baseline) served.push(baseline);
    const bare = await startChild(
      "bare grpc-js",
      [path.join(here, "support/bare-grpc-server.ts")],
      work,
      (line) => (/^\d+$/.test(line) ? `127.0.0.1:${line}` : undefined),
    );
    served.push(bare);
    const results = new Map<string, Round[]>(served.map((s) => [s.name, []]));
    // every server's JIT warms up before anything is measured (unmeasured rounds)
    if (warmupSeconds > 0) {
      for (const s of served) await drive(s, warmupSeconds, false);
    }
    for (let i = 0; i < rounds; i++) {
      // rotate who goes first, so no server always follows the same one
      const order = served.map((_, k) => served[(i + k) % served.length] as Served);
      for (const s of order) {
        const r = await drive(s);
        results.get(s.name)?.push(r);
        process.stderr.write(
          `  round ${i + 1} ${s.name}: ${(r.calls / r.seconds).toFixed(0)} calls/s, ${r.errors} errors\n`,
        );
      }
    }
    const ours = summary(results.get(daemon.name) ?? []);
    const anchor = summary(results.get(bare.name) ?? []);
    const fmt = (n: number) => n.toFixed(2);
    console.log(
      `\nunary IsWorkspaceExists, ${concurrency} concurrent callers, ${rounds} × ${seconds} s per server, interleaved`,
    );
    printSummary([
      ["ws-daemon", ours],
      ...(baseline
        ? [
            ["baseline ws-daemon", summary(results.get(baseline.name) ?? [])] as [
              string,
              typeof ours,
            ],
          ]
        : []),
      ["bare grpc-js", anchor],
    ]);
    console.log("\ngarbage collection per 1000 calls (measured rounds):");
    printGc(served.map((s) => [s.name, results.get(s.name) ?? []]));
    console.log("\nws-daemon against bare grpc-js, per round:");
    printRounds(results.get(daemon.name) ?? [], results.get(bare.name) ?? []);
    if (baseline) {
      console.log("\nbaseline ws-daemon against bare grpc-js, per round:");
      printRounds(results.get(baseline.name) ?? [], results.get(bare.name) ?? []);
    }
    console.log(
      `\nload average (1, 5, 15 min): at the start ${loadAtStart.map(fmt).join(" ")}, at the end ${loadavg().map(fmt).join(" ")}`,
    );
    const pairedRatios = ours.rates.map((r, i) => r / (anchor.rates[i] ?? Number.NaN));
    console.log(
      `\nrate ratio ours/bare: best ${fmt(ours.bestRate / anchor.bestRate)}×, per round ${pairedRatios.map(fmt).join(" ")}; p99 ratio ${fmt(ours.p99 / anchor.p99)}×`,
    );
  } finally {
    for (const s of served) s.child.kill("SIGTERM");
    // BENCH_RPC_KEEP=1 keeps the servers' logs (e.g. with --trace-gc in BENCH_RPC_NODE_ARGS)
    if (process.env.BENCH_RPC_KEEP === "1") process.stderr.write(`logs kept in ${work}\n`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
