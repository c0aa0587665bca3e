import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  createDaemonClients,
  createDaemonTransport,
  createWorkspaceContentServiceClient,
  type DaemonProtocol,
  type DaemonTransportOptions,
  statusOf,
  WorkspaceContentService,
} from "../src/index.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

const protocols: DaemonProtocol[] = ["grpc", "connect", "grpc-web"];

/** The handlers record what arrived, so a test can tell the request really reached the server. */
function routes(seen: string[]) {
  return (router: ConnectRouter) =>
    router.service(WorkspaceContentService, {
      isWorkspaceExists(req) {
        seen.push(req.id);
        return { exists: req.id.startsWith("ws-") };
      },
      getWorkspaceState(req) {
        throw new ConnectError(`workspace ${req.id} not found`, Code.NotFound);
      },
      // Never answers on its own: only the caller's deadline ends the call.
      async waitForInit(_req, ctx) {
        await new Promise<void>((resolve) => {
          if (ctx.signal.aborted) resolve();
          ctx.signal.addEventListener("abort", () => resolve(), { once: true });
        });
        return {};
      },
    });
}

async function expectRejects(promise: Promise<unknown>): Promise<ConnectError> {
  try {
    await promise;
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectError);
    return e as ConnectError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

let pki: TestPki;
let socketDir: string;
const seen: string[] = [];
const servers: Record<"tcp" | "tls" | "mtls" | "unix", TestServer> = {} as never;

beforeAll(async () => {
  pki = await createTestPki();
  socketDir = await mkdtemp(join(tmpdir(), "wsd-api-sock-"));
  const r = routes(seen);
  servers.tcp = await startTestServer(r);
  servers.tls = await startTestServer(r, { tls: pki.server });
  servers.mtls = await startTestServer(r, { tls: { ...pki.server, clientCa: pki.ca } });
  servers.unix = await startTestServer(r, { socketPath: join(socketDir, "daemon.sock") });
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.close()));
  await pki?.cleanup();
  if (socketDir) await rm(socketDir, { recursive: true, force: true });
});

/** Transport options per kind of endpoint; the address is filled in from the server. */
function optionsFor(kind: keyof typeof servers): Omit<DaemonTransportOptions, "protocol"> {
  const address = servers[kind].address;
  switch (kind) {
    case "tls":
      return { address, tls: { ca: pki.ca } };
    case "mtls":
      return { address, tls: { ca: pki.ca, cert: pki.client.cert, key: pki.client.key } };
    default:
      return { address };
  }
}

describe.each(["tcp", "tls", "mtls", "unix"] as const)("createDaemonTransport over %s", (kind) => {
  it.each(protocols)(
    "makes a call and reads an error status with protocol %s",
    async (protocol) => {
      const transport = createDaemonTransport({ ...optionsFor(kind), protocol });
      const { content } = createDaemonClients(transport);
      const id = `ws-${kind}-${protocol}`;

      const res = await content.isWorkspaceExists({ id });
      expect(res.exists).toBe(true);
      expect(seen).toContain(id);
      expect((await content.isWorkspaceExists({ id: "nope" })).exists).toBe(false);

      const err = await expectRejects(content.getWorkspaceState({ id: "ws-missing" }));
      const status = statusOf(err);
      expect(status.code).toBe(Code.NotFound);
      expect(status.codeName).toBe("NOT_FOUND");
      expect(status.message).toBe("workspace ws-missing not found");
    },
  );

  it.each(protocols)("turns a missed deadline into DEADLINE_EXCEEDED (%s)", async (protocol) => {
    const client = createWorkspaceContentServiceClient(
      createDaemonTransport({ ...optionsFor(kind), protocol }),
    );
    const err = await expectRejects(client.waitForInit({ id: "ws-slow" }, { timeoutMs: 50 }));
    expect(err.code).toBe(Code.DeadlineExceeded);
  });
});

describe("TLS verification", () => {
  it("rejects a server certificate signed by a CA the client does not trust", async () => {
    for (const tls of [{}, { ca: pki.otherCa }]) {
      const client = createWorkspaceContentServiceClient(
        createDaemonTransport({ address: servers.tls.address, tls }),
      );
      const err = await expectRejects(client.isWorkspaceExists({ id: "ws-untrusted" }));
      // connect-node reports TLS failures as INTERNAL; the message names the cause.
      expect(err.code).toBe(Code.Internal);
      expect(err.message).toMatch(/unable to verify the first certificate/);
    }
    expect(seen).not.toContain("ws-untrusted");
  });

  it("verifies the certificate against serverName when given", async () => {
    const ok = createWorkspaceContentServiceClient(
      createDaemonTransport({
        address: servers.tls.address,
        tls: { ca: pki.ca, serverName: "localhost" },
      }),
    );
    expect((await ok.isWorkspaceExists({ id: "ws-servername" })).exists).toBe(true);

    const wrong = createWorkspaceContentServiceClient(
      createDaemonTransport({
        address: servers.tls.address,
        tls: { ca: pki.ca, serverName: "daemon.example.com" },
      }),
    );
    const err = await expectRejects(wrong.isWorkspaceExists({ id: "ws-wrong-name" }));
    expect(err.code).toBe(Code.Internal);
    expect(err.message).toMatch(/daemon\.example\.com\. is not in the cert's altnames/);
    expect(seen).not.toContain("ws-wrong-name");
  });
});

describe("mutual TLS", () => {
  it.each(["grpc", "connect"] as const)(
    "refuses a client without a certificate or with a foreign one (%s)",
    async (protocol) => {
      const attempts: DaemonTransportOptions["tls"][] = [
        { ca: pki.ca },
        { ca: pki.ca, cert: pki.strangerClient.cert, key: pki.strangerClient.key },
      ];
      for (const tls of attempts) {
        const rejectedBefore = servers.mtls.tlsErrors.length;
        const client = createWorkspaceContentServiceClient(
          createDaemonTransport({ address: servers.mtls.address, protocol, tls }),
        );
        // Without a certificate the client reads the TLS alert (INTERNAL, "certificate
        // required"); with a foreign one TLS 1.3 lets the client send its request before the
        // server hangs up, which connect-node reports as CANCELED.
        const err = await expectRejects(client.isWorkspaceExists({ id: "ws-no-client-cert" }));
        expect([Code.Internal, Code.Canceled, Code.Unavailable]).toContain(err.code);
        // The refusal is the server's doing, not a client-side problem.
        await vi.waitFor(() =>
          expect(servers.mtls.tlsErrors.length).toBeGreaterThan(rejectedBefore),
        );
      }
      expect(seen).not.toContain("ws-no-client-cert");
    },
  );
});

describe("addresses", () => {
  it.each([
    ["localhost:8080", /use http:\/\/, https:\/\/ or unix:\/\//],
    ["127.0.0.1:8080", /use http:\/\/, https:\/\/ or unix:\/\//],
    ["ftp://127.0.0.1:8080", /use http:\/\/, https:\/\/ or unix:\/\//],
    ["", /use http:\/\/, https:\/\/ or unix:\/\//],
    ["unix://daemon.sock", /absolute path/],
    ["unix:daemon.sock", /use http:\/\/, https:\/\/ or unix:\/\//],
  ])("rejects %j with a clear message", (address, message) => {
    expect(() => createDaemonTransport({ address })).toThrow(message);
  });

  it("rejects inconsistent TLS options and unknown protocols", () => {
    expect(() => createDaemonTransport({ address: "http://127.0.0.1:1", tls: {} })).toThrow(
      /tls options need an https:\/\/ address/,
    );
    expect(() =>
      createDaemonTransport({ address: "https://127.0.0.1:1", tls: { cert: pki.client.cert } }),
    ).toThrow(/both tls.cert and tls.key/);
    expect(() =>
      createDaemonTransport({ address: "http://127.0.0.1:1", protocol: "h3" as DaemonProtocol }),
    ).toThrow(/unknown protocol "h3"/);
  });

  it("reports an unreachable daemon as UNAVAILABLE naming the cause", async () => {
    const missingSocket = join(socketDir, "missing.sock");
    const closed = await startTestServer(routes([]));
    const closedAddress = closed.address;
    await closed.close();
    for (const [address, cause] of [
      [`unix://${missingSocket}`, /ENOENT/],
      [closedAddress, /ECONNREFUSED/],
    ] as const) {
      const client = createWorkspaceContentServiceClient(createDaemonTransport({ address }));
      const err = await expectRejects(client.isWorkspaceExists({ id: "ws-1" }));
      expect(err.code).toBe(Code.Unavailable);
      expect(err.message).toMatch(cause);
    }
  });
});

describe("defaultTimeoutMs", () => {
  it("applies to calls that set no deadline themselves", async () => {
    const client = createWorkspaceContentServiceClient(
      createDaemonTransport({ address: servers.tcp.address, defaultTimeoutMs: 50 }),
    );
    const err = await expectRejects(client.waitForInit({ id: "ws-slow" }));
    expect(err.code).toBe(Code.DeadlineExceeded);
  });
});
