/**
 * `npm run bench:rpc`: unary call rate and latency of the daemon's node API against a bare
 * @grpc/grpc-js server answering the same IsWorkspaceExists from a Map. Both run as their own
 * processes; one independent grpc-js client (this process) drives them at the same concurrency
 * in alternating rounds, so load from elsewhere on the machine hits both alike.
 *
 * Server CPU time per call (from /proc) is printed too: unlike rates it hardly moves with load
 * from other work. BENCH_RPC_CONCURRENCY (64), BENCH_RPC_SECONDS per round (4), BENCH_RPC_ROUNDS per side (3),
 * BENCH_RPC_WARMUP_SECONDS (2) of unmeasured calls per side first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { tmpdir } from "node:os";
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
  const nodeArgs =
    name === "daemon" ? (process.env.BENCH_RPC_NODE_ARGS?.split(" ").filter(Boolean) ?? []) : [];
  const loader = args[0]?.endsWith(".ts") ? ["--import", tsx] : [];
  // The daemon's log goes to a file, as a container runtime keeps it: a pipe to this process
  // would make the daemon wait for the busy client to read it.
  const log = port !== undefined ? openSync(path.join(cwd, `${name}.log`), "w") : "pipe";
  const child = spawn(process.execPath, [...nodeArgs, ...loader, ...args], {
    cwd,
    stdio: ["ignore", log, "inherit"],
  });
  if (typeof log === "number") closeSync(log);
  if (port !== undefined) return Promise.resolve({ name, address: `127.0.0.1:${port}`, child });
  return new Promise((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
    if (!child.stdout) return reject(new Error("no stdout"));
    createInterface({ input: child.stdout }).on("line", (line) => {
      const address = pick(line);
      if (address) resolve({ name, address, child });
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
  calls: number;
  errors: number;
  latenciesMs: number[];
  seconds: number;
}

/** `concurrency` callers in a loop for `seconds`, each waiting for its answer before the next call. */
async function drive(
  address: string,
  pid: number | undefined,
  forSeconds = seconds,
): Promise<Round> {
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
  client.close();
  return { cpu, calls: latenciesMs.length, errors, latenciesMs, seconds: elapsed };
}

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;

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

async function main(): Promise<void> {
  const work = mkdtempSync(path.join(tmpdir(), "wsd-bench-rpc-"));
  const served: Served[] = [];
  try {
    const port = await freePort();
    const daemon = await startChild(
      "daemon",
      [
        daemonEntry(),
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
    served.push(daemon);
    const bare = await startChild(
      "bare grpc-js",
      [path.join(here, "support/bare-grpc-server.ts")],
      work,
      (line) => (/^\d+$/.test(line) ? `127.0.0.1:${line}` : undefined),
    );
    served.push(bare);
    const results = new Map<string, Round[]>([
      [daemon.name, []],
      [bare.name, []],
    ]);
    // both servers' JIT warms up before anything is measured (unmeasured rounds)
    if (warmupSeconds > 0)
      for (const s of [daemon, bare]) await drive(s.address, s.child.pid, warmupSeconds);
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? [daemon, bare] : [bare, daemon];
      for (const s of order) {
        const r = await drive(s.address, s.child.pid);
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
      `\nunary IsWorkspaceExists, ${concurrency} concurrent callers, ${rounds} × ${seconds} s per side, alternating`,
    );
    console.log("| server | best calls/s | p50 ms | p99 ms | server CPU µs/call | errors |");
    console.log("|---|---|---|---|---|---|");
    for (const [name, s] of [
      ["ws-daemon", ours],
      ["bare grpc-js", anchor],
    ] as const) {
      console.log(
        `| ${name} | ${s.bestRate.toFixed(0)} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${s.cpuUsPerCall.toFixed(0)} | ${s.errors} |`,
      );
    }
    const pairedRatios = ours.rates.map((r, i) => r / (anchor.rates[i] ?? Number.NaN));
    console.log(
      `\nrate ratio ours/bare: best ${fmt(ours.bestRate / anchor.bestRate)}×, per round ${pairedRatios.map(fmt).join(" ")}; p99 ratio ${fmt(ours.p99 / anchor.p99)}×`,
    );
  } finally {
    for (const s of served) s.child.kill("SIGTERM");
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
