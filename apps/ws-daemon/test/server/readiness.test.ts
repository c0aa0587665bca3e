/**
 * Readiness on the real daemon: what grpc.health.v1 answers (on the node API and on the
 * plaintext probe port kubelet uses), what InitWorkspace answers, the log and the metrics,
 * while the runtime socket is missing and while free space is under the threshold.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  Code,
  createDaemonClients,
  createDaemonTransport,
  createHealthClient,
  HealthCheckResponse_ServingStatus as Status,
  statusOf,
} from "@ws-daemon/api";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeCriServer } from "../runtime/fake-cri-server.js";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

const empty = { spec: { case: "empty" as const, value: {} } };
const metadata = { owner: "o", metaId: "m" };
const CONTENT = "wsdaemon.WorkspaceContentService";

const metricsOf = async (d: TestDaemon) =>
  (await fetch(`http://127.0.0.1:${d.daemon.metricsPort}/metrics`)).text();

const until = async (what: string, ok: () => Promise<boolean>, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

describe("readiness", () => {
  it("is SERVING on a node that can take work, with liveness beside it", async () => {
    const d = await startTestDaemon();
    try {
      const { health } = d.clients();
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
      expect((await health.check({ service: CONTENT })).status).toBe(Status.SERVING);
      expect((await health.check({ service: "liveness" })).status).toBe(Status.SERVING);
      const metrics = await metricsOf(d);
      expect(metrics).toMatch(/^wsd_ready 1$/m);
      for (const check of ["runtime", "working-area-writable", "disk-space"]) {
        expect(metrics).toContain(`wsd_readiness_check_ok{check="${check}"} 1`);
      }
      expect(metrics).toMatch(/^wsd_working_area_free_bytes \d+$/m);
    } finally {
      await d.stop();
    }
  });

  it("under the free-space threshold: NOT_SERVING, InitWorkspace RESOURCE_EXHAUSTED, the reason logged", async () => {
    const d = await startTestDaemon({ health: { minFreeBytes: Number.MAX_SAFE_INTEGER } });
    try {
      const { health, content } = d.clients();
      expect((await health.check({ service: "" })).status).toBe(Status.NOT_SERVING);
      expect((await health.check({ service: CONTENT })).status).toBe(Status.NOT_SERVING);
      // Restarting the daemon frees no disk: liveness stays up.
      expect((await health.check({ service: "liveness" })).status).toBe(Status.SERVING);
      const refused = await content
        .initWorkspace({ id: "ws-full", metadata, initializer: empty })
        .catch(statusOf);
      expect(refused).toMatchObject({
        code: Code.ResourceExhausted,
        message: expect.stringMatching(/GiB a new workspace needs \(health\.minFreeBytes\)$/),
      });
      expect((await content.isWorkspaceExists({ id: "ws-full" })).exists).toBe(false);
      const warning = d.logs.find((l) => l.check === "disk-space");
      expect(warning).toMatchObject({ level: 40, component: "readiness" });
      expect(String(warning?.msg)).toMatch(/^not ready: .* below the threshold of /);
      const metrics = await metricsOf(d);
      expect(metrics).toMatch(/^wsd_ready 0$/m);
      expect(metrics).toContain('wsd_readiness_check_ok{check="disk-space"} 0');
      expect(metrics).toContain('wsd_readiness_check_ok{check="runtime"} 1');
    } finally {
      await d.stop();
    }
  });

  it("NOT_SERVING while the runtime socket does not answer, SERVING once it does", async () => {
    const socketDir = await mkdtemp(path.join(tmpdir(), "wsd-cri-sock-"));
    const socketPath = path.join(socketDir, "cri.sock");
    const t = await startTestDaemon({
      runtime: { kind: "cri", socketPath },
      health: { checkIntervalMs: 100 },
    });
    let cri: FakeCriServer | undefined;
    try {
      const { health, content } = t.clients();
      expect((await health.check({ service: "" })).status).toBe(Status.NOT_SERVING);
      const warning = t.logs.find((l) => l.check === "runtime");
      expect(warning?.msg).toBe(
        `not ready: container runtime unreachable at ${socketPath} (ENOENT) during Version`,
      );
      // Only free space refuses new work; the runtime matters to the in-workspace API.
      await content.initWorkspace({ id: "ws-1", metadata, initializer: empty });

      cri = await FakeCriServer.start({ socketPath });
      await until(
        "SERVING",
        async () => (await health.check({ service: "" })).status === Status.SERVING,
      );
      expect(t.logs.some((l) => l.msg === "runtime check passes again")).toBe(true);
      expect(await metricsOf(t)).toMatch(/^wsd_ready 1$/m);
    } finally {
      await t.stop();
      await cri?.stop();
      await rm(socketDir, { recursive: true, force: true });
    }
  });
});

describe("the probe port", () => {
  let certs: TestPki;
  beforeAll(async () => {
    certs = await createTestPki();
  });
  afterAll(() => certs.cleanup());

  it("serves Health in plaintext while the node API requires mutual TLS, and nothing else", async () => {
    const d = await startTestDaemon({
      tls: {
        certFile: certs.files.server.cert,
        keyFile: certs.files.server.key,
        clientCaFile: certs.files.ca,
      },
      health: { probe: { enabled: true, host: "127.0.0.1", port: 0 } },
    });
    try {
      expect(d.daemon.probePort).toBeGreaterThan(0);
      const probe = createDaemonTransport({ address: `http://127.0.0.1:${d.daemon.probePort}` });
      const health = createHealthClient(probe);
      expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
      expect((await health.check({ service: "liveness" })).status).toBe(Status.SERVING);
      const { content } = createDaemonClients(probe);
      expect(await content.isWorkspaceExists({ id: "x" }).catch(statusOf)).toMatchObject({
        code: Code.Unimplemented,
      });
      // The node API itself still wants a client certificate.
      const anonymous = d.clients({ tls: { ca: certs.ca } });
      expect(await anonymous.health.check({}).catch(statusOf)).toMatchObject({
        code: Code.Internal,
      });
    } finally {
      await d.stop();
    }
    expect(d.logText()).not.toContain("/grpc.health.v1.Health/Check");
  });

  it("is off unless enabled", async () => {
    const d = await startTestDaemon();
    try {
      expect(d.daemon.probePort).toBeUndefined();
    } finally {
      await d.stop();
    }
  });
});
