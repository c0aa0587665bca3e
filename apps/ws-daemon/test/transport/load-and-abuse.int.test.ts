/**
 * Load and abuse on loopback (root: workspaces are fake containers): 200 well-behaved clients
 * (content calls on the node API, WorkspaceInfo on the workspace sockets) while slowloris
 * clients, gzip bombs and connection floods hit the node API and one workspace's socket. The
 * daemon runs as its own process, so its memory is its own.
 */
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  createDaemonClients,
  createDaemonTransport,
  createInWorkspaceClients,
  HealthCheckResponse_ServingStatus as Status,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type FakeContainer,
  isRoot,
  rootSkipReason,
  startContainer,
} from "../linux/support/fake-container.js";
import { ensureHelperBuilt } from "../linux/support/helper-binary.js";
import { type DaemonProcess, spawnDaemon } from "../support/daemon-process.js";
import { freePort } from "../support/net.js";
import {
  closedBy,
  connectRaw,
  connectUnary,
  gzipBomb,
  type Target,
  targetOf,
} from "./abuse-clients.js";

if (!isRoot) console.warn(`[load and abuse test] skipped: ${rootSkipReason}`);

const MIB = 1024 * 1024;
/** The daemon's peak resident memory must stay below this (measured 227-325 MiB, through tsx; an inflated bomb alone is 4 GiB). */
const RSS_BOUND = 512 * MIB;
const LOAD_MS = 15_000;
const CONTENT_CLIENTS = 100;
const IWS_WORKSPACES = 20;
const IWS_CLIENTS_PER_WORKSPACE = 5;
const NODE_MAX_CONNECTIONS = 400;
const IWS_MAX_CONNECTIONS = 64;
const HEADERS_TIMEOUT_MS = 2000;
const ATTACKER = "ws-attacker";
const empty = { spec: { case: "empty" as const, value: {} } };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak and current resident memory of a process, from /proc (bytes). */
function memoryOf(pid: number): { peak: number; now: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1]) * 1024;
  return { peak: kib("VmHWM"), now: kib("VmRSS") };
}

describe.skipIf(!isRoot)("200 clients while the daemon is attacked", () => {
  let dir: string;
  let daemon: DaemonProcess;
  let container: FakeContainer;
  let metricsPort: number;
  const iwsIds = Array.from({ length: IWS_WORKSPACES }, (_, i) => `ws-iws-${i}`);
  const socketOf = (id: string) => path.join(dir, "workspaces", ".sockets", id, "daemon.sock");

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "wsd-load-"));
    container = await startContainer([], []);
    metricsPort = await freePort();
    const workspaces = Object.fromEntries(
      [...iwsIds, ATTACKER].map((id) => [id, container.rootPid]),
    );
    const config = path.join(dir, "config.json");
    await writeFile(
      config,
      JSON.stringify({
        workingArea: path.join(dir, "workspaces"),
        storage: { kind: "local", root: path.join(dir, "storage") },
        runtime: { kind: "process", workspaces },
        metrics: { enabled: true, host: "127.0.0.1", port: metricsPort },
        linux: { nsHelperPath: ensureHelperBuilt() },
        health: { minFreeBytes: 0 },
        log: { level: "info", format: "json" },
        limits: {
          maxConcurrentInits: 8,
          maxConnections: NODE_MAX_CONNECTIONS,
          headersTimeoutMs: HEADERS_TIMEOUT_MS,
          inWorkspace: { maxConnections: IWS_MAX_CONNECTIONS },
        },
      }),
    );
    daemon = await spawnDaemon(dir, [
      `--config=${config}`,
      "--metrics.enabled=true",
      `--metrics.port=${metricsPort}`,
    ]);
    // the in-memory log of the harness is not what this test is about
    daemon.lines.length = 0;
    setInterval(() => {
      daemon.lines.length = 0;
    }, 1000).unref();
    const { content } = daemon.clients();
    for (const id of [...iwsIds, ATTACKER]) {
      await content.initWorkspace({ id, metadata: { owner: "o", metaId: id }, initializer: empty });
    }
  }, 120_000);

  afterAll(async () => {
    daemon?.child.kill("SIGKILL");
    await daemon?.exited;
    await container?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const refusals = async (api: string, limit: string) => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const line = text
      .split("\n")
      .find((l) =>
        l.startsWith(`wsd_transport_limit_refusals_total{api="${api}",limit="${limit}"}`),
      );
    return Number(line?.split(" ")[1] ?? 0);
  };

  it("serves every well-behaved call, gives each abuse its documented answer, and stays within its memory bound", async () => {
    const errors: string[] = [];
    const counts = { content: 0, inWorkspace: 0 };
    const until = Date.now() + LOAD_MS;
    const fail = (what: string) => (e: unknown) => {
      errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
    };

    // 100 content clients, each on its own connection: a workspace of its own, then reads
    const contentClients = Array.from({ length: CONTENT_CLIENTS }, async (_, i) => {
      const { content } = createDaemonClients(createDaemonTransport({ address: daemon.address }));
      const id = `ws-load-${i}`;
      try {
        await content.initWorkspace({
          id,
          metadata: { owner: "o", metaId: id },
          initializer: empty,
        });
        await content.waitForInit({ id });
        while (Date.now() < until) {
          const exists = await content.isWorkspaceExists({ id });
          if (!exists.exists) throw new Error(`${id} vanished`);
          await content.getWorkspaceState({ id });
          counts.content += 2;
        }
        await content.disposeWorkspace({ id });
      } catch (e) {
        fail(`content client ${i}`)(e);
      }
    });

    // 100 in-workspace clients, 5 per workspace socket, keeping to WorkspaceInfo's rate
    // (burst 4, one more every 1.5 s per workspace): the workspace's clients take turns
    const iwsClients = iwsIds.map(async (id) => {
      const clients = Array.from({ length: IWS_CLIENTS_PER_WORKSPACE }, () =>
        createInWorkspaceClients(createDaemonTransport({ address: `unix://${socketOf(id)}` })),
      );
      let turn = 0;
      try {
        while (Date.now() < until) {
          const client = clients[turn++ % clients.length];
          const info = await client?.workspaceInfo.workspaceInfo({});
          if (!(Number(info?.resources?.memory?.limit) > 0)) throw new Error("no memory limit");
          counts.inWorkspace++;
          await sleep(1600);
        }
      } catch (e) {
        fail(`in-workspace client of ${id}`)(e);
      }
    });

    await sleep(1000);
    const node = targetOf(daemon.address);
    const attackerSocket: Target = { socketPath: socketOf(ATTACKER) };

    // slowloris: one byte of the HTTP/2 preface, or half an HTTP/1.1 request, then silence
    const slowloris = [node, attackerSocket].flatMap((target) =>
      Array.from({ length: 20 }, (_, i) => {
        const socket = connectRaw(target);
        socket.write(i % 2 === 0 ? "P" : "POST /x HTTP/1.1\r\nHost: x\r\n");
        return closedBy(socket);
      }),
    );

    // gzip bombs: a few MiB that inflate to 4 GiB, as Connect calls
    const bomb = gzipBomb(64);
    const bombs = [
      ...[0, 1].map(() =>
        connectUnary(node, "/wsdaemon.WorkspaceContentService/IsWorkspaceExists", bomb, {
          "content-encoding": "gzip",
        }),
      ),
      ...[0, 1].map(() =>
        connectUnary(attackerSocket, "/iws.WorkspaceInfoService/WorkspaceInfo", bomb, {
          "content-encoding": "gzip",
        }),
      ),
    ];

    // the bombs' connections are in before the floods fill the socket's connection slots
    await sleep(200);
    // connection floods: 3 × the workspace socket's limit, and the node API up to its limit
    const flood = (target: Target, n: number) =>
      Array.from({ length: n }, () => closedBy(connectRaw(target)));
    const floods = [
      ...flood(attackerSocket, 3 * IWS_MAX_CONNECTIONS),
      ...flood(node, NODE_MAX_CONNECTIONS - CONTENT_CLIENTS - 60),
    ];

    const bombAnswers = await Promise.all(bombs);
    for (const answer of bombAnswers) {
      expect(answer.status).toBe(429);
      expect(answer.body.message).toContain("readMaxBytes");
    }
    await Promise.all([...slowloris, ...floods]);
    await Promise.all([...contentClients, ...iwsClients]);

    expect(errors).toEqual([]);
    // activity, not speed: the sockets and the node API were both busy
    expect(counts.inWorkspace).toBeGreaterThanOrEqual(IWS_WORKSPACES);
    expect(counts.content).toBeGreaterThanOrEqual(CONTENT_CLIENTS * 2);
    // the documented answers, counted by the daemon
    expect(await refusals("in-workspace", "maxConnections")).toBeGreaterThanOrEqual(
      2 * IWS_MAX_CONNECTIONS - 20,
    );
    expect(await refusals("in-workspace", "headersTimeoutMs")).toBeGreaterThan(0);
    expect(await refusals("node", "headersTimeoutMs")).toBeGreaterThan(0);

    const memory = memoryOf(daemon.child.pid as number);
    console.log(
      `load: ${counts.content} content calls, ${counts.inWorkspace} in-workspace calls; daemon RSS peak ${(memory.peak / MIB).toFixed(0)} MiB, now ${(memory.now / MIB).toFixed(0)} MiB (bound ${RSS_BOUND / MIB} MiB)`,
    );
    expect(memory.peak).toBeLessThan(RSS_BOUND);

    // still healthy, still answering
    const { health, content } = daemon.clients();
    expect((await health.check({})).status).toBe(Status.SERVING);
    expect((await content.isWorkspaceExists({ id: ATTACKER })).exists).toBe(true);
  }, 90_000);
});
