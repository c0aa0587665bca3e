import * as net from "node:net";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  Code,
  createDaemonTransport,
  createServerReflectionClient,
  GitAuthMethod,
  InitWorkspaceRequestSchema,
  HealthCheckResponse_ServingStatus as Status,
  statusOf,
  WorkspaceContentState,
} from "@ws-daemon/api";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

const empty = { spec: { case: "empty" as const, value: {} } };
const metadata = { owner: "owner-1", metaId: "meta-1" };

let d: TestDaemon;
beforeAll(async () => {
  d = await startTestDaemon();
});
afterAll(() => d.stop());

describe("node API server", () => {
  it("serves the content lifecycle over gRPC and reports the state extension", async () => {
    const { content } = d.clients();
    await content.initWorkspace({ id: "ws-grpc", metadata, initializer: empty });
    await content.waitForInit({ id: "ws-grpc" });
    expect((await content.isWorkspaceExists({ id: "ws-grpc" })).exists).toBe(true);
    const state = await content.getWorkspaceState({ id: "ws-grpc" });
    expect(state.state).toBe(WorkspaceContentState.AVAILABLE);
    expect(state.initSource).toBe("from-other");
    expect(state.metadata).toMatchObject(metadata);
    const err = await content
      .initWorkspace({ id: "ws-grpc", metadata, initializer: empty })
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.AlreadyExists });
    await content.disposeWorkspace({ id: "ws-grpc" });
    expect((await content.isWorkspaceExists({ id: "ws-grpc" })).exists).toBe(false);
  });

  it("serves the Connect protocol over HTTP/2 and HTTP/1.1 on the same port", async () => {
    const { content } = d.clients({ protocol: "connect" });
    expect((await content.isWorkspaceExists({ id: "nope" })).exists).toBe(false);
    const res = await fetch(
      `${d.daemon.address}/wsdaemon.WorkspaceContentService/IsWorkspaceExists`,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ id: "nope" }),
      },
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
    const bad = await fetch(`${d.daemon.address}/wsdaemon.WorkspaceContentService/WaitForInit`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "never-started" }),
    });
    expect(bad.status).toBe(404);
    expect(((await bad.json()) as { code: string }).code).toBe("not_found");
  });

  it("serves gRPC-Web", async () => {
    const { content } = d.clients({ protocol: "grpc-web" });
    expect((await content.isWorkspaceExists({ id: "x" })).exists).toBe(false);
  });

  it.each([
    ["an empty id", { id: "", metadata, initializer: empty }],
    ["an id with a slash", { id: "a/b", metadata, initializer: empty }],
    ["an id of dots", { id: "..", metadata, initializer: empty }],
    ["a too long id", { id: "a".repeat(200), metadata, initializer: empty }],
    ["missing metadata", { id: "ws-m", initializer: empty }],
    [
      "an owner with a slash",
      { id: "ws-m", metadata: { owner: "a/b", metaId: "m" }, initializer: empty },
    ],
    ["missing initializer", { id: "ws-m", metadata }],
    ["an unset initializer", { id: "ws-m", metadata, initializer: { spec: { case: undefined } } }],
    [
      "a checkout location escaping with ..",
      {
        id: "ws-m",
        metadata,
        initializer: {
          spec: {
            case: "git",
            value: { remoteUri: "https://example.invalid/r.git", checkoutLocation: "../x" },
          },
        },
      },
    ],
    [
      "an absolute download target",
      {
        id: "ws-m",
        metadata,
        initializer: {
          spec: {
            case: "download",
            value: {
              targetLocation: "/etc",
              files: [{ url: "http://x/a", filePath: "a", digest: `sha256:${"0".repeat(64)}` }],
            },
          },
        },
      },
    ],
    [
      "a download with a bad digest form",
      {
        id: "ws-m",
        metadata,
        initializer: {
          spec: {
            case: "download",
            value: {
              targetLocation: "",
              files: [{ url: "http://x/a", filePath: "a", digest: "md5:1" }],
            },
          },
        },
      },
    ],
    [
      "basic auth without a user",
      {
        id: "ws-m",
        metadata,
        initializer: {
          spec: {
            case: "git",
            value: {
              remoteUri: "https://example.invalid/r.git",
              config: { authentication: GitAuthMethod.BASIC_AUTH },
            },
          },
        },
      },
    ],
    ["a negative quota", { id: "ws-m", metadata, initializer: empty, storageQuotaBytes: -1n }],
  ])("InitWorkspace with %s is INVALID_ARGUMENT and creates nothing", async (_what, req) => {
    const { content } = d.clients();
    const err = await content
      .initWorkspace(create(InitWorkspaceRequestSchema, req as never))
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.InvalidArgument });
    expect((await content.isWorkspaceExists({ id: "ws-m" })).exists).toBe(false);
  });

  it("maps unknown ids to NOT_FOUND and empty ids to INVALID_ARGUMENT on every id-taking RPC", async () => {
    const { content } = d.clients();
    const calls = [
      (id: string) => content.waitForInit({ id }),
      (id: string) => content.takeSnapshot({ id }),
      (id: string) => content.backupWorkspace({ id }),
      (id: string) => content.disposeWorkspace({ id }),
      (id: string) => content.getWorkspaceState({ id }),
    ];
    for (const call of calls) {
      expect(await call("unknown-ws").catch(statusOf)).toMatchObject({ code: Code.NotFound });
      expect(await call("").catch(statusOf)).toMatchObject({ code: Code.InvalidArgument });
    }
  });

  it("survives a client that connects and resets before sending anything", async () => {
    const { port } = new URL(d.daemon.address);
    for (let i = 0; i < 3; i++) {
      const socket = net.connect(Number(port), "127.0.0.1");
      await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
      socket.resetAndDestroy();
    }
    await new Promise((r) => setTimeout(r, 100));
    const { health } = d.clients();
    expect((await health.check({})).status).toBe(Status.SERVING);
  });

  it("accepts long client deadlines", async () => {
    const { content } = d.clients();
    const res = await content.isWorkspaceExists({ id: "x" }, { timeoutMs: 6 * 3600_000 });
    expect(res.exists).toBe(false);
  });

  it("answers grpc.health.v1 Check and Watch", async () => {
    const { health } = d.clients();
    expect((await health.check({ service: "" })).status).toBe(Status.SERVING);
    expect((await health.check({ service: "wsdaemon.WorkspaceContentService" })).status).toBe(
      Status.SERVING,
    );
    expect(await health.check({ service: "no.Such" }).catch(statusOf)).toMatchObject({
      code: Code.NotFound,
    });
    const abort = new AbortController();
    const stream = health.watch({ service: "" }, { signal: abort.signal });
    const first = await stream[Symbol.asyncIterator]().next();
    expect(first.value?.status).toBe(Status.SERVING);
    abort.abort();
  });

  it("answers grpc.reflection.v1 for listing services and resolving symbols", async () => {
    const client = createServerReflectionClient(
      createDaemonTransport({ address: d.daemon.address }),
    );
    const responses = client.serverReflectionInfo(
      (async function* () {
        yield { messageRequest: { case: "listServices" as const, value: "" } };
        yield {
          messageRequest: {
            case: "fileContainingSymbol" as const,
            value: "wsdaemon.WorkspaceContentService",
          },
        };
        yield { messageRequest: { case: "fileContainingSymbol" as const, value: "no.Such" } };
      })(),
    );
    const all = [];
    for await (const r of responses) all.push(r);
    const list = all[0]?.messageResponse;
    if (list?.case !== "listServicesResponse") throw new Error("expected a service list");
    const names = list.value.service.map((s) => s.name);
    expect(names).toContain("wsdaemon.WorkspaceContentService");
    expect(names).toContain("grpc.health.v1.Health");
    const found = all[1]?.messageResponse;
    if (found?.case !== "fileDescriptorResponse") throw new Error("expected file descriptors");
    const files = found.value.fileDescriptorProto.map(
      (b) => fromBinary(FileDescriptorProtoSchema, b).name,
    );
    // the file itself, then every file it imports, well-known types included
    expect(files).toEqual([
      "wsdaemon/daemon.proto",
      "contentservice/initializer.proto",
      "google/protobuf/timestamp.proto",
    ]);
    expect(all[2]?.messageResponse.case).toBe("errorResponse");
  });

  it("exports Prometheus metrics on its own port", async () => {
    const text = await (await fetch(`http://127.0.0.1:${d.daemon.metricsPort}/metrics`)).text();
    expect(text).toMatch(
      /wsd_rpc_total\{method="\/wsdaemon.WorkspaceContentService\/InitWorkspace",code="OK"\} \d+/,
    );
    expect(text).toMatch(
      /wsd_rpc_duration_seconds_bucket\{le="0.1",method="\/grpc.health.v1.Health\/Check"\}/,
    );
    expect(text).toContain("wsd_init_total");
    expect(text).toContain('wsd_workspaces{state="available"}');
  });

  it("logs every call with a request id and the workspace id, and never a secret", async () => {
    const { content } = d.clients();
    const secret = "tok-3d1f5b2a-never-log-me";
    await content
      .initWorkspace({
        id: "ws-secret",
        metadata,
        initializer: {
          spec: {
            case: "git",
            value: {
              remoteUri: "http://127.0.0.1:9/none.git",
              config: {
                authentication: GitAuthMethod.BASIC_AUTH,
                authUser: "u",
                authPassword: secret,
              },
            },
          },
        },
      })
      .catch(() => undefined);
    const line = d.logs.find(
      (l) =>
        l.workspaceId === "ws-secret" &&
        l.method === "/wsdaemon.WorkspaceContentService/InitWorkspace",
    );
    expect(line?.requestId).toEqual(expect.any(String));
    // Lines of the domain modules during the call carry the same request and workspace ids.
    const inner = d.logs.filter(
      (l) => l.component !== undefined && l.requestId === line?.requestId,
    );
    expect(inner.length).toBeGreaterThan(0);
    for (const l of inner) expect(l.workspaceId).toBe("ws-secret");
    expect(d.logText()).not.toContain(secret);
    expect(
      d.daemon.manager.get("ws-secret") ? JSON.stringify(d.daemon.manager.get("ws-secret")) : "",
    ).not.toContain(secret);
  });
});

describe("TLS", () => {
  let certs: TestPki;
  beforeAll(async () => {
    certs = await createTestPki();
  });
  afterAll(() => certs.cleanup());

  it("serves over TLS", async () => {
    const t = await startTestDaemon({
      tls: { certFile: certs.files.server.cert, keyFile: certs.files.server.key },
    });
    try {
      expect(t.daemon.address.startsWith("https://127.0.0.1:")).toBe(true);
      const { health } = t.clients({ tls: { ca: certs.ca } });
      expect((await health.check({})).status).toBe(Status.SERVING);
      const { health: untrusting } = t.clients();
      // connect-node reports TLS handshake failures as INTERNAL with the OpenSSL reason.
      expect(await untrusting.check({}).catch(statusOf)).toMatchObject({
        code: Code.Internal,
        message: expect.stringMatching(/verify the first certificate/),
      });
    } finally {
      await t.stop();
    }
  });

  it("requires a client certificate from the configured CA with mutual TLS", async () => {
    const t = await startTestDaemon({
      tls: {
        certFile: certs.files.server.cert,
        keyFile: certs.files.server.key,
        clientCaFile: certs.files.ca,
      },
    });
    try {
      const ok = t.clients({
        tls: { ca: certs.ca, cert: certs.client.cert, key: certs.client.key },
      });
      expect((await ok.health.check({})).status).toBe(Status.SERVING);
      const anonymous = t.clients({ tls: { ca: certs.ca } });
      expect(await anonymous.health.check({}).catch(statusOf)).toMatchObject({
        code: Code.Internal,
        message: expect.stringMatching(/certificate required/),
      });
    } finally {
      await t.stop();
    }
  });
});
