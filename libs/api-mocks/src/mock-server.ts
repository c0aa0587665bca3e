import { rm } from "node:fs/promises";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import type { Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { registerMocks } from "./mock-transport.js";
import type { ServiceMock } from "./service-mock.js";

export type MockServerListen =
  /** TCP; port 0 (the default) picks a free port. Host defaults to 127.0.0.1. */
  | { port?: number; host?: string }
  /** A Unix domain socket at this path (replaced if it exists). */
  | { socketPath: string };

export interface MockServerOptions {
  listen?: MockServerListen;
  interceptors?: Interceptor[];
}

export interface MockServer {
  /** Base URL for connect transports, e.g. "http://127.0.0.1:39113" (for sockets "http://localhost"). */
  readonly baseUrl: string;
  /** A gRPC target usable by any gRPC client: "127.0.0.1:39113" or "unix:///path/to.sock". */
  readonly target: string;
  readonly port: number | undefined;
  readonly socketPath: string | undefined;
  close(): Promise<void>;
}

/**
 * Starts a real HTTP/2 (h2c) server answering gRPC, gRPC-Web and Connect requests from the
 * mocks, so clients written in any language can be tested against them.
 */
export async function startMockServer(
  mocks: readonly ServiceMock<DescService>[],
  options: MockServerOptions = {},
): Promise<MockServer> {
  const handler = connectNodeAdapter({
    routes: (router) => registerMocks(router, mocks),
    interceptors: options.interceptors ?? [],
  });
  const server = http2.createServer(handler);
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const listen = options.listen ?? {};
  const socketPath = "socketPath" in listen ? listen.socketPath : undefined;
  if (socketPath !== undefined) await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (socketPath !== undefined) server.listen(socketPath, resolve);
    else {
      const tcp = listen as { port?: number; host?: string };
      server.listen(tcp.port ?? 0, tcp.host ?? "127.0.0.1", resolve);
    }
  });
  const address = server.address();
  const port =
    typeof address === "object" && address !== null ? (address as AddressInfo).port : undefined;
  const host =
    "socketPath" in listen ? "localhost" : ((listen as { host?: string }).host ?? "127.0.0.1");
  return {
    baseUrl: socketPath !== undefined ? "http://localhost" : `http://${host}:${port}`,
    target: socketPath !== undefined ? `unix://${socketPath}` : `${host}:${port}`,
    port,
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.close();
        server.close(() => resolve());
        // Sessions with open streams would keep close() waiting; a mock has nothing to finish.
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, 100).unref();
      }),
  };
}
