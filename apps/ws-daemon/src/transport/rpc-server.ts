import { readFile, rm } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type * as tls from "node:tls";
import type {
  ConnectRouter,
  ContextValues,
  Interceptor,
  MethodImplSpec,
} from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createGrpcUnaryPath, type StreamTaker } from "./grpc-unary-path.js";
import { countHttp1Timeouts } from "./http1-timeout-counting.js";
import { type MethodsByPath, recordServices } from "./recorded-services.js";
import { useChurnFreeStreamRegistries } from "./session-stream-registries.js";
import {
  DEFAULT_TRANSPORT_LIMITS,
  guardSession,
  type TransportLimits,
} from "./transport-limits.js";

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCaFile?: string | undefined;
}

/**
 * A Unix socket is created with the process's umask and never chmod-ed here (a chmod by path
 * follows whatever a workspace put at that path): bind it where only the daemon can reach and
 * move it into place (see WorkspaceSockets).
 */
export type ListenTarget = { host: string; port: number } | { socketPath: string };

export interface RpcServerOptions {
  routes: (router: ConnectRouter) => void;
  interceptors: Interceptor[];
  listen: ListenTarget;
  tls?: TlsFiles | undefined;
  /** Aborted on shutdown: running handlers see their signal abort once the grace period ends. */
  shutdownSignal?: AbortSignal;
  /** What clients may send and hold; DEFAULT_TRANSPORT_LIMITS when unset. */
  limits?: TransportLimits | undefined;
  /**
   * Values every call's interceptors and handlers see (`req.contextValues`, `ctx.values`), made
   * from the connection it came on: the hook for peer identity (TLS certificate, SO_PEERCRED).
   * Both the unary gRPC path and connect-node call it.
   */
  contextValues?: ((socket: net.Socket) => ContextValues) | undefined;
  /** Told whenever a limit refuses a connection, stream or call (for metrics). */
  onLimitExceeded?: ((limit: keyof TransportLimits) => void) | undefined;
  /**
   * false: unary gRPC calls over HTTP/2 go through connect-node like everything else instead of
   * the unary gRPC path (tests compare the two answers; default true).
   */
  grpcUnaryPath?: boolean | undefined;
}

export interface RpcServer {
  /** "http://127.0.0.1:8080", "https://..." or "unix:///path". */
  readonly address: string;
  readonly port: number | undefined;
  /** Stop accepting connections and wait for open calls; force-close after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

/** Node's default; an idle HTTP/1.1 connection costs a socket and is cheap to open again. */
const HTTP1_KEEP_ALIVE_MS = 5000;

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One port for gRPC, gRPC-Web and Connect. With TLS, ALPN picks HTTP/2 or HTTP/1.1. Without
 * TLS, the first bytes decide: the HTTP/2 preface goes to the h2c server (gRPC clients),
 * anything else to an HTTP/1.1 server (browsers, curl, Connect over HTTP/1.1).
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const limits = options.limits ?? DEFAULT_TRANSPORT_LIMITS;
  const exceeded = (limit: keyof TransportLimits) => options.onLimitExceeded?.(limit);
  const methods = new Map<string, MethodImplSpec>();
  const contextValues = options.contextValues;
  const handler = connectNodeAdapter({
    routes: (router) => recordServices(options.routes, router, methods),
    interceptors: options.interceptors,
    // bounds a request body and, for compressed ones, what it inflates to
    readMaxBytes: limits.readMaxBytes,
    ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
    ...(contextValues ? { contextValues: (req) => contextValues(connectionOf(req)) } : {}),
  });
  const unaryPath = createGrpcUnaryPath({
    methods: methods as MethodsByPath,
    interceptors: options.interceptors,
    readMaxBytes: limits.readMaxBytes,
    requestTimeoutMs: limits.requestTimeoutMs,
    onLimitExceeded: exceeded,
    shutdownSignal: options.shutdownSignal,
    contextValues,
  });
  const h2Options = { settings: { maxConcurrentStreams: limits.maxConcurrentStreams } };

  const sockets = new Set<net.Socket>();
  let listener: net.Server;
  let h2: http2.Http2Server | http2.Http2SecureServer;
  let h1: http.Server | undefined;

  if (options.tls) {
    const tls = options.tls;
    const [cert, key, ca] = await Promise.all([
      readFile(tls.certFile),
      readFile(tls.keyFile),
      tls.clientCaFile ? readFile(tls.clientCaFile) : Promise.resolve(undefined),
    ]);
    const secure = http2.createSecureServer(
      {
        cert,
        key,
        allowHTTP1: true,
        ...h2Options,
        handshakeTimeout: limits.headersTimeoutMs,
        ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
      },
      handler,
    );
    // With allowHTTP1, Node serves HTTP/1.1 (ALPN "http/1.1" or none) through http.Server's
    // connection handling on this server object, which reads its timeouts from these properties
    // (defaults: 60 s for headers, 5 min per request, no keep-alive bound); they are not
    // createSecureServer options, and must be set before "listening" starts the checks.
    Object.assign(secure, http1Timeouts(limits));
    h2 = secure;
    listener = secure;
  } else {
    h2 = http2.createServer(h2Options, handler);
    h1 = http.createServer(http1Timeouts(limits), handler);
    // The server never listens itself (sockets are handed to it), and Node starts checking the
    // two timeouts above on "listening" only.
    h1.emit("listening");
    h1.on("connection", (socket: net.Socket) => countHttp1Timeouts(socket, exceeded));
    const plain = h1;
    const h2c = h2;
    listener = net.createServer((socket) => {
      // Until a protocol server owns the socket, its errors (a reset from a port probe) are ours
      // to handle, and a client that sends nothing must not hold the descriptor forever.
      const onEarlyError = () => socket.destroy();
      socket.on("error", onEarlyError);
      const onSniffTimeout = () => {
        exceeded("headersTimeoutMs");
        socket.destroy();
      };
      socket.setTimeout(limits.headersTimeoutMs, onSniffTimeout);
      socket.once("readable", () => {
        // the HTTP/1.1 server times this socket out again for keep-alive: not a sniff timeout
        socket.setTimeout(0);
        socket.off("timeout", onSniffTimeout);
        socket.off("error", onEarlyError);
        const head: Buffer | null = socket.read(HTTP2_PREFACE.length) ?? socket.read();
        if (head === null) {
          socket.destroy();
          return;
        }
        socket.unshift(head);
        const isHttp2 = head
          .subarray(0, Math.min(head.length, HTTP2_PREFACE.length))
          .equals(HTTP2_PREFACE.subarray(0, Math.min(head.length, HTTP2_PREFACE.length)));
        (isHttp2 ? h2c : plain).emit("connection", socket);
      });
    });
  }
  listener.maxConnections = limits.maxConnections;
  listener.on("drop", () => exceeded("maxConnections"));
  listener.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  if (options.grpcUnaryPath !== false) takeStreamsFirst(h2, unaryPath);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s: http2.ServerHttp2Session) => {
    useChurnFreeStreamRegistries(s);
    guardSession(s, limits, exceeded);
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  if (options.tls) {
    (listener as http2.Http2SecureServer).on("secureConnection", (s: tls.TLSSocket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      // allowHTTP1: anything but ALPN "h2" is served by Node's HTTP/1.1 code on this socket
      if (s.alpnProtocol !== "h2") countHttp1Timeouts(s, exceeded);
    });
  }

  const target = options.listen;
  if ("socketPath" in target) await rm(target.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    if ("socketPath" in target) listener.listen(target.socketPath, resolve);
    else listener.listen(target.port, target.host, resolve);
  });
  const addr = listener.address();
  const port = typeof addr === "object" && addr !== null ? addr.port : undefined;
  const address =
    "socketPath" in target
      ? `unix://${target.socketPath}`
      : `${options.tls ? "https" : "http"}://${target.host.includes(":") ? `[${target.host}]` : target.host}:${port}`;

  return {
    address,
    port,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        let done = false;
        const finish = () => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          resolve();
        };
        listener.close(() => finish());
        // Ask HTTP/2 clients to go away once their open calls finish; idle HTTP/1 sockets close.
        for (const s of sessions) s.close();
        h1?.closeIdleConnections();
        // stops the timeout checks
        h1?.close();
        const timer = setTimeout(() => {
          for (const s of sessions) s.destroy();
          for (const s of sockets) s.destroy();
        }, graceMs);
        timer.unref();
      }),
  };
}

/** The HTTP/1.1 timeouts, the same for plaintext HTTP/1.1 and HTTP/1.1 over TLS. */
function http1Timeouts(limits: TransportLimits) {
  return {
    headersTimeout: Math.min(limits.headersTimeoutMs, limits.requestTimeoutMs),
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: Math.min(limits.idleTimeoutMs, HTTP1_KEEP_ALIVE_MS),
    // how often the two timeouts above are checked (Node's default: every 30 s)
    connectionsCheckingInterval: Math.min(1000, limits.headersTimeoutMs),
  } satisfies http.ServerOptions;
}

/**
 * Puts `taker` in front of the HTTP/2 compatibility layer (the "stream" listener Node adds for
 * the request handler): streams it declines go on to connect-node as before.
 */
function takeStreamsFirst(
  server: http2.Http2Server | http2.Http2SecureServer,
  taker: StreamTaker,
): void {
  const compat = server.listeners("stream") as ((...args: unknown[]) => void)[];
  server.removeAllListeners("stream");
  server.on(
    "stream",
    (
      stream: http2.ServerHttp2Stream,
      headers: http2.IncomingHttpHeaders,
      flags: number,
      rawHeaders: string[],
    ) => {
      if (taker(stream, headers)) return;
      for (const listener of compat) listener.call(server, stream, headers, flags, rawHeaders);
    },
  );
}

/**
 * The connection under a request: for HTTP/2 the session's socket (one object per connection,
 * the same one the unary gRPC path hands out), for HTTP/1.1 the request's socket.
 */
function connectionOf(req: http.IncomingMessage | http2.Http2ServerRequest): net.Socket {
  return "stream" in req ? (req.stream.session?.socket ?? req.socket) : req.socket;
}
