import { readFile, rm } from "node:fs/promises";
import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import type { ConnectRouter, ContextValues, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

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
  /** Per request, values the interceptors read (e.g. the client certificate's identity). */
  contextValues?: (req: http.IncomingMessage | http2.Http2ServerRequest) => ContextValues;
}

export interface RpcServer {
  /** "http://127.0.0.1:8080", "https://..." or "unix:///path". */
  readonly address: string;
  readonly port: number | undefined;
  /** Stop accepting connections and wait for open calls; force-close after `graceMs`. */
  close(graceMs: number): Promise<void>;
}

const HTTP2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * One port for gRPC, gRPC-Web and Connect. With TLS, ALPN picks HTTP/2 or HTTP/1.1. Without
 * TLS, the first bytes decide: the HTTP/2 preface goes to the h2c server (gRPC clients),
 * anything else to an HTTP/1.1 server (browsers, curl, Connect over HTTP/1.1).
 */
export async function startRpcServer(options: RpcServerOptions): Promise<RpcServer> {
  const handler = connectNodeAdapter({
    routes: options.routes,
    interceptors: options.interceptors,
    ...(options.shutdownSignal ? { shutdownSignal: options.shutdownSignal } : {}),
    ...(options.contextValues ? { contextValues: options.contextValues } : {}),
  });

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
        ...(ca ? { ca, requestCert: true, rejectUnauthorized: true } : {}),
      },
      handler,
    );
    h2 = secure;
    listener = secure;
  } else {
    h2 = http2.createServer(handler);
    h1 = http.createServer(handler);
    const plain = h1;
    const h2c = h2;
    listener = net.createServer((socket) => {
      // Until a protocol server owns the socket, its errors (a reset from a port probe) are ours
      // to handle, and a client that sends nothing must not hold the descriptor forever.
      const onEarlyError = () => socket.destroy();
      socket.on("error", onEarlyError);
      socket.setTimeout(10_000, () => socket.destroy());
      socket.once("readable", () => {
        socket.setTimeout(0);
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
  listener.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  if (options.tls) {
    (listener as http2.Http2SecureServer).on("secureConnection", (s: net.Socket) => {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
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
        const timer = setTimeout(() => {
          for (const s of sessions) s.destroy();
          for (const s of sockets) s.destroy();
        }, graceMs);
        timer.unref();
      }),
  };
}
