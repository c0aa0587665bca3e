import * as net from "node:net";
import * as tls from "node:tls";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
  type Http2SessionManager,
} from "@connectrpc/connect-node";
import { createRetryInterceptor, type RetryOptions } from "./retry.js";

export type DaemonProtocol = "grpc" | "connect" | "grpc-web";

export interface DaemonTlsOptions {
  /** CA certificate(s) that sign the daemon's certificate (PEM). Defaults to the system CAs. */
  ca?: string | Buffer | undefined;
  /** Client certificate (PEM), for mutual TLS. */
  cert?: string | Buffer | undefined;
  /** Client private key (PEM), for mutual TLS. */
  key?: string | Buffer | undefined;
  /** Name to verify the daemon's certificate against, when it differs from the address host. */
  serverName?: string | undefined;
}

export interface DaemonTransportOptions {
  /**
   * Where the daemon listens:
   * - `http://host:port`   plain HTTP/2 (h2c)
   * - `https://host:port`  TLS (mutual TLS when `tls.cert` and `tls.key` are given)
   * - `unix:///path.sock`  a Unix domain socket, e.g. the in-workspace `daemon.sock`
   */
  address: string;
  /** Wire protocol; "grpc" (the default) is what every gRPC client and server speaks. */
  protocol?: DaemonProtocol | undefined;
  tls?: DaemonTlsOptions | undefined;
  /** Opt-in retries of idempotent calls on UNAVAILABLE; `true` for the defaults. */
  retry?: boolean | RetryOptions | undefined;
  interceptors?: Interceptor[] | undefined;
  /** Deadline applied to calls that do not set `timeoutMs` themselves. */
  defaultTimeoutMs?: number | undefined;
  /** Encode Connect and gRPC-Web messages as binary protobuf instead of JSON (default true). */
  useBinaryFormat?: boolean | undefined;
  /** Share HTTP/2 connections between transports (advanced). */
  sessionManager?: Http2SessionManager | undefined;
}

interface ParsedAddress {
  baseUrl: string;
  socketPath?: string | undefined;
  secure: boolean;
}

function parseAddress(address: string): ParsedAddress {
  if (address.startsWith("unix://")) {
    const socketPath = address.slice("unix://".length);
    if (!socketPath.startsWith("/")) {
      throw new Error(
        `unix socket address needs an absolute path (unix:///path), got "${address}"`,
      );
    }
    // The authority is only used for the :authority header; the socket carries the bytes.
    return { baseUrl: "http://localhost", socketPath, secure: false };
  }
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new Error(`invalid daemon address "${address}": use http://, https:// or unix://`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`invalid daemon address "${address}": use http://, https:// or unix://`);
  }
  return { baseUrl: url.origin, secure: url.protocol === "https:" };
}

/**
 * connect-node reports a missing socket file (ENOENT) as INTERNAL, while gRPC treats any
 * failure to connect as UNAVAILABLE. A missing `daemon.sock` is transient (the daemon is
 * restarting and re-creates it), so callers and the retry interceptor must see UNAVAILABLE.
 */
const missingSocketIsUnavailable: Interceptor = (next) => async (req) => {
  try {
    return await next(req);
  } catch (e) {
    if (e instanceof ConnectError && e.code === Code.Internal && causedByMissingSocket(e)) {
      // A failed connect carries no error details worth keeping.
      throw new ConnectError(e.rawMessage, Code.Unavailable, e.metadata, undefined, e);
    }
    throw e;
  }
};

function causedByMissingSocket(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const { code, syscall } = e as NodeJS.ErrnoException;
    if (code === "ENOENT" && syscall === "connect") return true;
  }
  return false;
}

/**
 * Creates a transport to a ws-daemon (or any server of this API) for TCP, TLS, mutual TLS or
 * a Unix socket, speaking gRPC, Connect or gRPC-Web over HTTP/2.
 */
export function createDaemonTransport(options: DaemonTransportOptions): Transport {
  const { baseUrl, socketPath, secure } = parseAddress(options.address);
  if (options.tls && !secure) {
    throw new Error(`tls options need an https:// address, got "${options.address}"`);
  }
  if ((options.tls?.cert === undefined) !== (options.tls?.key === undefined)) {
    throw new Error("mutual TLS needs both tls.cert and tls.key");
  }
  const nodeOptions: Record<string, unknown> = {};
  if (socketPath !== undefined) {
    // connect-node has no Unix socket option; http2.connect accepts a connection factory.
    nodeOptions.createConnection = () => net.connect(socketPath);
  }
  if (options.tls) {
    const t = options.tls;
    if (t.ca !== undefined) nodeOptions.ca = t.ca;
    if (t.cert !== undefined) nodeOptions.cert = t.cert;
    if (t.key !== undefined) nodeOptions.key = t.key;
    if (t.serverName !== undefined) {
      nodeOptions.servername = t.serverName;
      nodeOptions.checkServerIdentity = (_host: string, cert: tls.PeerCertificate) =>
        tls.checkServerIdentity(t.serverName as string, cert);
    }
  }
  const interceptors = [...(options.interceptors ?? [])];
  if (options.retry) {
    interceptors.unshift(createRetryInterceptor(options.retry === true ? {} : options.retry));
  }
  // Innermost, so the retry interceptor and the caller's interceptors see the mapped code.
  if (socketPath !== undefined) interceptors.push(missingSocketIsUnavailable);
  const common = {
    baseUrl,
    interceptors,
    useBinaryFormat: options.useBinaryFormat ?? true,
    nodeOptions,
    ...(options.defaultTimeoutMs === undefined
      ? {}
      : { defaultTimeoutMs: options.defaultTimeoutMs }),
    ...(options.sessionManager === undefined ? {} : { sessionManager: options.sessionManager }),
  };
  switch (options.protocol ?? "grpc") {
    case "grpc":
      return createGrpcTransport(common);
    case "connect":
      return createConnectTransport({ ...common, httpVersion: "2" });
    case "grpc-web":
      return createGrpcWebTransport({ ...common, httpVersion: "2" });
    default:
      throw new Error(`unknown protocol "${String(options.protocol)}"`);
  }
}
