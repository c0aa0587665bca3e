import { create, toBinary } from "@bufbuild/protobuf";
import {
  Code as ConnectCode,
  ConnectError,
  createClient,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import { compressionGzip, createGrpcTransport } from "@connectrpc/connect-node";
import {
  Code,
  createDaemonClients,
  createDaemonTransport,
  IsWorkspaceExistsRequestSchema,
  statusOf,
  WorkspaceContentService,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createInFlightLimit, type RpcServer, startRpcServer } from "../../src/transport/index.js";
import { connectH2, envelope, grpcPartialCall, targetOf } from "./abuse-clients.js";

const PATH = "/wsdaemon.WorkspaceContentService/IsWorkspaceExists";

/** What the test service saw of its calls. */
const seen: {
  signal?: AbortSignal;
  header?: string | null;
  protocol?: string;
  peerPort?: number;
}[] = [];
/** Set from the connection by the server's contextValues hook. */
const PEER_PORT = createContextKey(0, { description: "peer port" });
let release: (() => void) | undefined;
/** Waits until a "hold" call is inside the handler; returns what lets it go. */
async function nextHeld(): Promise<() => void> {
  while (release === undefined) await new Promise((r) => setTimeout(r, 10));
  const r = release;
  release = undefined;
  return r;
}

/** ids steer the test service: "slow" waits for its signal, "hold" for release(), "fail" throws. */
const routes = (router: Parameters<Parameters<typeof startRpcServer>[0]["routes"]>[0]) =>
  router.service(WorkspaceContentService, {
    async isWorkspaceExists(req, ctx) {
      seen.push({
        signal: ctx.signal,
        header: ctx.requestHeader.get("x-test"),
        protocol: ctx.protocolName,
        peerPort: ctx.values.get(PEER_PORT),
      });
      ctx.responseHeader.set("x-answered-by", "test");
      if (req.id === "slow") {
        await new Promise((_, reject) =>
          ctx.signal.addEventListener("abort", () => reject(ctx.signal.reason)),
        );
      }
      if (req.id === "hold") await new Promise<void>((r) => (release = r));
      if (req.id === "fail-text") {
        throw new ConnectError("no, not here: é 100%", ConnectCode.NotFound);
      }
      if (req.id === "fail") {
        throw new ConnectError("it failed on purpose", ConnectCode.FailedPrecondition, {
          "x-failure": "yes",
        });
      }
      return { exists: req.id === "there" };
    },
  });

/** Marks each call so a test can tell that the interceptors ran on it. */
const tagging: Interceptor = (next) => async (req) => {
  const res = await next(req);
  res.header.set("x-intercepted", "1");
  return res;
};

let server: RpcServer;
beforeAll(async () => {
  server = await startRpcServer({
    listen: { host: "127.0.0.1", port: 0 },
    interceptors: [tagging, createInFlightLimit(2)],
    routes,
    contextValues: (socket) => createContextValues().set(PEER_PORT, socket.remotePort ?? -1),
  });
});
afterAll(() => server.close(100));

const client = (protocol?: "grpc" | "connect" | "grpc-web") =>
  createDaemonClients(createDaemonTransport({ address: server.address, protocol })).content;

describe("unary gRPC on the HTTP/2 stream", () => {
  it("answers the same on gRPC, Connect and gRPC-Web, with headers and interceptors", async () => {
    for (const protocol of ["grpc", "connect", "grpc-web"] as const) {
      const headers: Record<string, string> = {};
      const res = await client(protocol).isWorkspaceExists(
        { id: "there" },
        {
          headers: { "x-test": protocol },
          onHeader: (h) =>
            h.forEach((v, k) => {
              headers[k] = v;
            }),
        },
      );
      expect(res.exists).toBe(true);
      expect(headers["x-answered-by"]).toBe("test");
      expect(headers["x-intercepted"]).toBe("1");
      expect(seen.at(-1)).toMatchObject({ header: protocol, protocol });
      // the connection-derived values (the peer identity hook) reach the handler on every path
      expect(seen.at(-1)?.peerPort).toBeGreaterThan(0);
    }
  });

  it("serves a gzip-compressed gRPC request (through connect-node)", async () => {
    const compressed = createClient(
      WorkspaceContentService,
      createGrpcTransport({ baseUrl: server.address, sendCompression: compressionGzip }),
    );
    expect((await compressed.isWorkspaceExists({ id: "there" })).exists).toBe(true);
  });

  it("returns a handler's status, message and metadata", async () => {
    const err = await client().isWorkspaceExists({ id: "fail" }).catch(statusOf);
    expect(err).toMatchObject({ code: Code.FailedPrecondition, message: "it failed on purpose" });
    const raw = await client()
      .isWorkspaceExists({ id: "fail" })
      .catch((e: unknown) => ConnectError.from(e));
    expect(raw instanceof ConnectError && raw.metadata.get("x-failure")).toBe("yes");
  });

  it("percent-encodes grpc-message as the gRPC spec does (only non-printable bytes and %)", async () => {
    const err = await client().isWorkspaceExists({ id: "fail-text" }).catch(statusOf);
    expect(err).toMatchObject({ code: Code.NotFound, message: "no, not here: é 100%" });
    const session = connectH2(targetOf(server.address));
    try {
      const body = envelope(
        toBinary(
          IsWorkspaceExistsRequestSchema,
          create(IsWorkspaceExistsRequestSchema, { id: "fail-text" }),
        ),
      );
      const raw = await new Promise<string>((resolve) => {
        const stream = session.request({
          ":method": "POST",
          ":path": PATH,
          "content-type": "application/grpc",
        });
        stream.on("response", (h) => resolve(String(h["grpc-message"])));
        stream.on("data", () => {});
        stream.on("error", () => {});
        stream.end(body);
      });
      expect(raw).toBe("no, not here: %C3%A9 100%25");
    } finally {
      session.destroy();
    }
  });

  it("aborts the handler's signal at the deadline: DEADLINE_EXCEEDED", async () => {
    const err = await client()
      .isWorkspaceExists({ id: "slow" }, { timeoutMs: 200 })
      .catch(statusOf);
    expect(err).toMatchObject({ code: Code.DeadlineExceeded });
    const signal = seen.at(-1)?.signal;
    // the daemon's own timer (or the client's reset, whichever comes first) aborts it
    while (signal?.aborted !== true) await new Promise((r) => setTimeout(r, 10));
    expect(signal.aborted).toBe(true);
  });

  it("aborts the handler's signal when the client cancels", async () => {
    const abort = new AbortController();
    const call = client().isWorkspaceExists({ id: "slow" }, { signal: abort.signal });
    while (seen.at(-1)?.signal?.aborted !== false) await new Promise((r) => setTimeout(r, 10));
    const signal = seen.at(-1)?.signal;
    abort.abort();
    await call.catch(() => undefined);
    while (signal?.aborted !== true) await new Promise((r) => setTimeout(r, 10));
    expect(signal.aborted).toBe(true);
  });

  it("refuses a body that is not the message's protobuf as INVALID_ARGUMENT", async () => {
    const session = connectH2(targetOf(server.address));
    try {
      const answer = await grpcPartialCall(
        session,
        PATH,
        envelope(Buffer.from([0xff, 0xff])),
        true,
      );
      expect(answer.status).toBe(String(Code.InvalidArgument));
    } finally {
      session.destroy();
    }
  });

  it("refuses two messages on a unary call and a body without one", async () => {
    const session = connectH2(targetOf(server.address));
    try {
      const one = envelope(
        toBinary(
          IsWorkspaceExistsRequestSchema,
          create(IsWorkspaceExistsRequestSchema, { id: "a" }),
        ),
      );
      const two = await grpcPartialCall(session, PATH, Buffer.concat([one, one]), true);
      expect(two.status).toBe(String(Code.Unimplemented));
      const none = await grpcPartialCall(session, PATH, Buffer.alloc(0), true);
      expect(none.status).toBe(String(Code.Unimplemented));
      const cut = await grpcPartialCall(session, PATH, one.subarray(0, one.length - 1), true);
      expect(cut.status).toBe(String(Code.InvalidArgument));
    } finally {
      session.destroy();
    }
  });

  it("bounds calls in flight through createInFlightLimit: one more is RESOURCE_EXHAUSTED naming the limit", async () => {
    const held = [client().isWorkspaceExists({ id: "hold" })];
    const first = await nextHeld();
    held.push(client().isWorkspaceExists({ id: "hold" }));
    const second = await nextHeld();
    const err = await client().isWorkspaceExists({ id: "there" }).catch(statusOf);
    expect(err).toMatchObject({
      code: Code.ResourceExhausted,
      message: expect.stringContaining("maxInFlightCalls"),
    });
    first();
    second();
    await Promise.all(held);
    expect((await client().isWorkspaceExists({ id: "there" })).exists).toBe(true);
  });
});
