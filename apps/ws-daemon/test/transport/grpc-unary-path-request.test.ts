/**
 * What interceptors and handlers see of a call on the unary gRPC path, whose request and handler
 * context are classes with getters on their prototype (see UnaryCallRequest): the same as on
 * connect-node, also behind an interceptor that spreads the request.
 */
import {
  Code as ConnectCode,
  ConnectError,
  createContextKey,
  createContextValues,
  type Interceptor,
} from "@connectrpc/connect";
import {
  createDaemonClients,
  createDaemonTransport,
  WorkspaceContentService,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RpcServer, startRpcServer } from "../../src/transport/index.js";

const PEER_PORT = createContextKey(0, { description: "peer port" });

interface Seen {
  interceptorUrl?: string;
  interceptorSignal?: boolean;
  interceptorPeerPort?: number;
  handlerUrl: string;
  handlerPeerPort: number;
  handlerTimeoutMs: number | undefined;
  abortReason?: unknown;
}
const seen = new Map<string, Seen[]>();

/** Reads what connect's UnaryRequest offers, then passes on a spread copy of the request. */
const spreading =
  (name: string): Interceptor =>
  (next) =>
  (req) => {
    const list = seen.get(name) ?? [];
    seen.set(name, list);
    list.push({
      interceptorUrl: req.url,
      interceptorSignal: req.signal instanceof AbortSignal,
      interceptorPeerPort: req.contextValues.get(PEER_PORT),
      handlerUrl: "",
      handlerPeerPort: 0,
      handlerTimeoutMs: undefined,
    });
    return next({ ...req });
  };

const routesFor =
  (name: string) => (router: Parameters<Parameters<typeof startRpcServer>[0]["routes"]>[0]) =>
    router.service(WorkspaceContentService, {
      async isWorkspaceExists(req, ctx) {
        const entry = seen.get(name)?.at(-1);
        if (!entry) throw new Error("the interceptor did not run");
        entry.handlerUrl = ctx.url;
        entry.handlerPeerPort = ctx.values.get(PEER_PORT);
        // detached from the context, as a handler may pass it on
        const { timeoutMs } = ctx;
        entry.handlerTimeoutMs = timeoutMs();
        if (req.id === "wait-for-deadline") {
          await new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              entry.abortReason = ctx.signal.reason;
              reject(ctx.signal.reason);
            }),
          );
        }
        return { exists: true };
      },
    });

const servers = new Map<string, RpcServer>();
beforeAll(async () => {
  for (const [name, grpcUnaryPath] of [
    ["unary path", true],
    ["connect-node", false],
  ] as const) {
    servers.set(
      name,
      await startRpcServer({
        listen: { host: "127.0.0.1", port: 0 },
        interceptors: [spreading(name)],
        routes: routesFor(name),
        grpcUnaryPath,
        contextValues: (socket) => createContextValues().set(PEER_PORT, socket.remotePort ?? -1),
      }),
    );
  }
});
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.close(100)));
});

const clientOf = (name: string) => {
  const server = servers.get(name);
  if (!server) throw new Error(`no server ${name}`);
  return createDaemonClients(createDaemonTransport({ address: server.address, protocol: "grpc" }))
    .content;
};

describe.each(["unary path", "connect-node"])("a call on %s", (name) => {
  it("shows interceptors and the handler its url, signal and context values, also behind an interceptor that spreads the request", async () => {
    await clientOf(name).isWorkspaceExists({ id: "plain" }, { timeoutMs: 60_000 });
    const entry = seen.get(name)?.at(-1);
    expect(entry?.interceptorUrl).toMatch(
      /^http:\/\/127\.0\.0\.1:\d+\/wsdaemon\.WorkspaceContentService\/IsWorkspaceExists$/,
    );
    expect(entry?.handlerUrl).toBe(entry?.interceptorUrl);
    expect(entry?.interceptorSignal).toBe(true);
    expect(entry?.interceptorPeerPort).toBeGreaterThan(0);
    expect(entry?.handlerPeerPort).toBe(entry?.interceptorPeerPort);
    expect(entry?.handlerTimeoutMs).toBeGreaterThan(50_000);
    expect(entry?.handlerTimeoutMs).toBeLessThanOrEqual(60_000);
  });

  it("aborts the handler's signal at the deadline behind a spreading interceptor", async () => {
    const err = await clientOf(name)
      .isWorkspaceExists({ id: "wait-for-deadline" }, { timeoutMs: 300 })
      .catch((e: unknown) => ConnectError.from(e));
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(ConnectCode.DeadlineExceeded);
    // the handler's own signal aborted (not only the client's deadline)
    for (let i = 0; i < 100 && seen.get(name)?.at(-1)?.abortReason === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(seen.get(name)?.at(-1)?.abortReason).toBeDefined();
  });
});
