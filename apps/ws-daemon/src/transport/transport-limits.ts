import type * as http2 from "node:http2";

/**
 * What one listener accepts from its clients. Beyond a limit a call gets RESOURCE_EXHAUSTED
 * naming it, or, where no call exists yet to carry a status, the connection (or HTTP/2 stream)
 * is closed: see proto/README.md.
 */
export interface TransportLimits {
  /** Largest request message, also after decompression (bytes). */
  readMaxBytes: number;
  /** Open connections at once; more are closed as they arrive. */
  maxConnections: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: calls at once on one connection. */
  maxConcurrentStreams: number;
  /** A connection with no call open for this long is closed (HTTP/2 GOAWAY; HTTP/1.1 keep-alive). */
  idleTimeoutMs: number;
  /** Until the protocol is known, the HTTP/2 preface and settings, HTTP/1.1 request headers. */
  headersTimeoutMs: number;
  /** Whole HTTP/1.1 request, and the request body of a unary gRPC call on HTTP/2. */
  requestTimeoutMs: number;
}

export const DEFAULT_TRANSPORT_LIMITS: TransportLimits = {
  readMaxBytes: 4 * 1024 * 1024,
  maxConnections: 1024,
  maxConcurrentStreams: 100,
  idleTimeoutMs: 120_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 60_000,
};

/**
 * Closes HTTP/2 sessions that never finish their handshake within `headersTimeoutMs` (a client
 * that sends a byte of the preface and goes silent) and sessions without an open stream for
 * `idleTimeoutMs`. A socket-level timeout cannot do the second: a quiet WatchWorkspace stream
 * is not idle.
 */
export function guardSession(
  session: http2.ServerHttp2Session,
  limits: TransportLimits,
  exceeded: (limit: keyof TransportLimits) => void,
): void {
  let timer: NodeJS.Timeout | undefined;
  let open = 0;
  /** Date.now() when the last open stream closed. */
  let idleSince = 0;
  let handshaken = false;
  const arm = (ms: number, onExpiry: () => void) => {
    clearTimeout(timer);
    timer = setTimeout(onExpiry, ms);
    timer.unref();
  };
  // One timer for the idle limit, moved on when it fires rather than at every call: a timer
  // set and cleared per stream was a visible share of a small unary call's cost.
  const checkIdle = () => {
    timer = undefined;
    if (open > 0 || session.closed || session.destroyed) return;
    const left = idleSince + limits.idleTimeoutMs - Date.now();
    if (left > 0) {
      arm(left, checkIdle);
      return;
    }
    exceeded("idleTimeoutMs");
    session.close();
    // a peer that never answers the GOAWAY must not hold the socket
    setTimeout(() => session.destroy(), 1000).unref();
  };
  arm(limits.headersTimeoutMs, () => {
    exceeded("headersTimeoutMs");
    session.destroy();
  });
  session.once("remoteSettings", () => {
    handshaken = true;
    idleSince = Date.now();
    arm(limits.idleTimeoutMs, checkIdle);
  });
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    if (!handshaken) {
      // a stream before the settings ends the handshake wait; idleness counts from its end
      handshaken = true;
      clearTimeout(timer);
      timer = undefined;
    }
    stream.once("close", () => {
      open--;
      if (open > 0 || session.closed) return;
      idleSince = Date.now();
      if (timer === undefined) arm(limits.idleTimeoutMs, checkIdle);
    });
  });
  session.once("close", () => clearTimeout(timer));
}
