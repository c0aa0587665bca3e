import * as net from "node:net";
import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { RuntimeService } from "../gen/cri/runtime/v1/api_pb.js";
import { DomainError, errnoCode } from "../platform/index.js";

/** A CRI v1 RuntimeService client (our own subset of the API, see apps/ws-daemon/proto-cri). */
export type CriRuntimeClient = Client<typeof RuntimeService>;

export interface CriConnection {
  readonly client: CriRuntimeClient;
  readonly socketPath: string;
  /** Closes the HTTP/2 connection; calls after this reconnect. */
  close(): void;
}

export interface CriClientOptions {
  /** The runtime's Unix socket, e.g. /run/containerd/containerd.sock. */
  socketPath: string;
  /** Deadline of each call that names none itself (default 10 s). */
  timeoutMs?: number;
}

/**
 * gRPC (HTTP/2, binary protobuf) to a CRI runtime on its Unix socket, with connect-node. One
 * HTTP/2 connection is kept and re-opened after the runtime restarts; an idle one does not keep
 * the process alive.
 */
export function connectCri(options: CriClientOptions): CriConnection {
  const { socketPath } = options;
  // The authority is only the :authority header; the socket carries the bytes.
  const sessions = new Http2SessionManager(
    "http://localhost",
    {},
    { createConnection: () => net.connect(socketPath) },
  );
  const transport = createGrpcTransport({
    baseUrl: "http://localhost",
    sessionManager: sessions,
    defaultTimeoutMs: options.timeoutMs ?? 10_000,
  });
  return {
    client: createClient(RuntimeService, transport),
    socketPath,
    close: () => sessions.abort(),
  };
}

/** The container runtime does not answer on its socket (missing, refused, or not CRI v1). */
export class CriUnavailableError extends DomainError {
  override name = "CriUnavailableError";
  constructor(message: string, options?: { cause?: unknown }) {
    super("unavailable", message, options);
  }
}

/** The runtime answered something the daemon cannot act on. */
export class CriProtocolError extends DomainError {
  override name = "CriProtocolError";
  constructor(message: string) {
    super("failed-precondition", message);
  }
}

const CONNECT_FAILURES = new Set(["ENOENT", "ECONNREFUSED", "EACCES", "ENOTSOCK", "ECONNRESET"]);

function connectFailure(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const code = errnoCode(e);
    if (code && CONNECT_FAILURES.has(code)) return code;
  }
  return undefined;
}

/**
 * A CRI call's failure as the daemon reports it: a socket that does not answer, or a runtime
 * that does not serve runtime.v1 (UNIMPLEMENTED), is CriUnavailableError; NOT_FOUND stays
 * recognisable for callers that expect races; anything else is passed on.
 */
export function criFailure(err: unknown, socketPath: string, what: string): unknown {
  const cause = connectFailure(err);
  if (cause) {
    return new CriUnavailableError(
      `container runtime unreachable at ${socketPath} (${cause}) during ${what}`,
      { cause: err },
    );
  }
  if (err instanceof ConnectError) {
    if (err.code === Code.Unavailable) {
      return new CriUnavailableError(
        `container runtime at ${socketPath} unavailable during ${what}: ${err.rawMessage}`,
        { cause: err },
      );
    }
    if (err.code === Code.Unimplemented) {
      return new CriUnavailableError(
        `the runtime at ${socketPath} does not serve CRI v1 (runtime.v1.RuntimeService/${what}: ${err.rawMessage})`,
        { cause: err },
      );
    }
  }
  return err;
}

export const isCriNotFound = (err: unknown): boolean =>
  err instanceof ConnectError && err.code === Code.NotFound;
