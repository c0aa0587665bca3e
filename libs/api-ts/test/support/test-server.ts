import { rm } from "node:fs/promises";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";

export interface TestServerTls {
  cert: string;
  key: string;
  /** When set, clients must present a certificate signed by this CA (mutual TLS). */
  clientCa?: string;
}

export interface TestServerOptions {
  /** Listen on this Unix socket instead of 127.0.0.1:<free port>. */
  socketPath?: string;
  tls?: TestServerTls;
}

export interface TestServer {
  /** The address for createDaemonTransport: http://, https:// or unix://. */
  readonly address: string;
  /** A gRPC target for @grpc/grpc-js: "127.0.0.1:port" or "unix:///path". */
  readonly grpcTarget: string;
  /** TLS handshakes the server rejected, e.g. a client without a certificate. */
  readonly tlsErrors: Error[];
  close(): Promise<void>;
}

/**
 * A real HTTP/2 server built from the generated descriptors with connect-node, the same way
 * the daemon serves its API; it speaks gRPC, gRPC-Web and Connect on one port.
 */
export async function startTestServer(
  routes: (router: ConnectRouter) => void,
  options: TestServerOptions = {},
): Promise<TestServer> {
  const handler = connectNodeAdapter({ routes });
  const tlsErrors: Error[] = [];
  let server: http2.Http2Server | http2.Http2SecureServer;
  if (options.tls) {
    const mutual = options.tls.clientCa !== undefined;
    server = http2.createSecureServer(
      {
        cert: options.tls.cert,
        key: options.tls.key,
        ...(mutual
          ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }
          : {}),
      },
      handler,
    );
    server.on("tlsClientError", (e: Error) => tlsErrors.push(e));
  } else {
    server = http2.createServer(handler);
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const { socketPath } = options;
  if (socketPath !== undefined) await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (socketPath !== undefined) server.listen(socketPath, resolve);
    else server.listen(0, "127.0.0.1", resolve);
  });
  const port = socketPath === undefined ? (server.address() as AddressInfo).port : undefined;
  const scheme = options.tls ? "https" : "http";
  return {
    address: socketPath !== undefined ? `unix://${socketPath}` : `${scheme}://127.0.0.1:${port}`,
    grpcTarget: socketPath !== undefined ? `unix://${socketPath}` : `127.0.0.1:${port}`,
    tlsErrors,
    close: () =>
      new Promise<void>((resolve) => {
        // Clients keep HTTP/2 sessions open; destroying them lets close() finish now.
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
