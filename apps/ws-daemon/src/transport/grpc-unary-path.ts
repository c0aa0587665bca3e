import * as http2 from "node:http2";
import type { Socket } from "node:net";
import { create, type DescMessage, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
  type StreamRequest,
  type StreamResponse,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { parseTimeout, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { CallSignal } from "./call-signal.js";
import type { MethodsByPath } from "./recorded-services.js";

const GRPC_CONTENT_TYPES = new Set(["application/grpc", "application/grpc+proto"]);
const RESPONSE_CONTENT_TYPE = "application/grpc+proto";
const ENVELOPE_HEADER_BYTES = 5;

export interface GrpcUnaryPathOptions {
  methods: MethodsByPath;
  interceptors: Interceptor[];
  /** Largest request message accepted (bytes), like connect's readMaxBytes. */
  readMaxBytes: number;
  /** The request body must be complete this long after the call's headers. */
  requestTimeoutMs: number;
  onLimitExceeded?: ((limit: "readMaxBytes" | "requestTimeoutMs") => void) | undefined;
  /** The call's context values from its connection (see RpcServerOptions.contextValues). */
  contextValues?: ((socket: Socket) => ContextValues) | undefined;
  shutdownSignal?: AbortSignal | undefined;
}

/** Takes an HTTP/2 stream if it is a call this path serves; false leaves it to the caller. */
export type StreamTaker = (
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
) => boolean;

/**
 * Unary gRPC calls (binary protobuf, no request compression) served straight on the HTTP/2
 * stream: the same service implementations and interceptors as connect-node, without its
 * per-call async-iterable pipeline and Node's HTTP/2 compatibility layer, which cost about ten
 * times the CPU of a bare gRPC server per call. Everything else (streams, gRPC-Web, Connect,
 * JSON, compressed requests) stays with connect-node.
 */
export function createGrpcUnaryPath(options: GrpcUnaryPathOptions): StreamTaker {
  const running = new Set<CallSignal>();
  options.shutdownSignal?.addEventListener("abort", () => {
    for (const c of running) c.abort(options.shutdownSignal?.reason);
  });
  const bodies = new BodyDeadlines(options.requestTimeoutMs, (stream) => {
    options.onLimitExceeded?.("requestTimeoutMs");
    respondError(
      stream,
      new ConnectError(
        `request body not complete within the limit requestTimeoutMs (${options.requestTimeoutMs} ms)`,
        Code.ResourceExhausted,
      ),
      undefined,
    );
  });
  return (stream, headers) => {
    const contentType = headers["content-type"];
    if (headers[":method"] !== "POST" || !contentType || !GRPC_CONTENT_TYPES.has(contentType)) {
      return false;
    }
    const encoding = headers["grpc-encoding"];
    if (encoding !== undefined && encoding !== "identity") return false;
    const spec = options.methods.get(headers[":path"] ?? "");
    if (spec?.kind !== "unary") return false;
    serveUnary(stream, headers, spec, options, running, bodies);
    return true;
  };
}

/**
 * Streams whose request body is still arriving, with one sweep for all of them (a timer per
 * call would cost more than the call): a client that sends a body slowly, or half of it and
 * then nothing, gets its stream answered and closed.
 */
class BodyDeadlines {
  private readonly since = new Map<http2.ServerHttp2Stream, number>();
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly onExpired: (stream: http2.ServerHttp2Stream) => void,
  ) {}

  add(stream: http2.ServerHttp2Stream): void {
    this.since.set(stream, Date.now());
    if (this.sweep) return;
    this.sweep = setInterval(() => this.expire(), Math.min(1000, this.timeoutMs));
    this.sweep.unref();
  }

  delete(stream: http2.ServerHttp2Stream): void {
    this.since.delete(stream);
  }

  private expire(): void {
    const limit = Date.now() - this.timeoutMs;
    for (const [stream, started] of this.since) {
      // a stream the client reset is forgotten here rather than by a listener on every call
      if (stream.destroyed) this.since.delete(stream);
      if (started > limit || stream.destroyed) continue;
      this.since.delete(stream);
      this.onExpired(stream);
    }
    if (this.since.size === 0) {
      clearInterval(this.sweep);
      this.sweep = undefined;
    }
  }
}

function serveUnary(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  spec: Extract<MethodImplSpec, { kind: "unary" }>,
  options: GrpcUnaryPathOptions,
  running: Set<CallSignal>,
  bodies: BodyDeadlines,
): void {
  const limit = options.readMaxBytes;
  const chunks: Buffer[] = [];
  let received = 0;
  let refused = false;
  bodies.add(stream);
  stream.on("data", (chunk: Buffer) => {
    if (refused) return;
    received += chunk.length;
    // the envelope's length prefix is known after 5 bytes: refuse a too large message early
    if (received > limit + ENVELOPE_HEADER_BYTES || tooLarge(chunks, chunk, limit)) {
      refused = true;
      chunks.length = 0;
      bodies.delete(stream);
      options.onLimitExceeded?.("readMaxBytes");
      respondError(stream, messageTooLarge(limit), undefined);
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => {
    bodies.delete(stream);
    if (refused || stream.headersSent) return;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
    void invoke(stream, headers, spec, options, running, body);
  });
  // a reset from the client: nothing to answer, the call's signal aborts
  stream.on("error", () => {});
}

/** True when the envelope's length prefix (known once 5 bytes are in) exceeds the limit. */
function tooLarge(before: Buffer[], chunk: Buffer, limit: number): boolean {
  if (before.length > 0) return false;
  if (chunk.length < ENVELOPE_HEADER_BYTES) return false;
  return chunk.readUInt32BE(1) > limit;
}

const messageTooLarge = (limit: number) =>
  new ConnectError(
    `request message larger than the limit readMaxBytes (${limit} bytes)`,
    Code.ResourceExhausted,
  );

/** The single request message of a unary call, or the status that refuses the body. */
function unwrapEnvelope(body: Buffer, limit: number): Buffer | ConnectError {
  if (body.length < ENVELOPE_HEADER_BYTES) {
    return new ConnectError(
      "protocol error: missing input message for unary method",
      Code.Unimplemented,
    );
  }
  const flags = body[0] ?? 0;
  const length = body.readUInt32BE(1);
  if (length > limit) return messageTooLarge(limit);
  const end = ENVELOPE_HEADER_BYTES + length;
  if (body.length < end) {
    return new ConnectError("protocol error: incomplete envelope", Code.InvalidArgument);
  }
  if (body.length > end) {
    return new ConnectError(
      "protocol error: received extra input message for unary method",
      Code.Unimplemented,
    );
  }
  if ((flags & 1) === 1) {
    return new ConnectError(
      "protocol error: compressed message without grpc-encoding",
      Code.Internal,
    );
  }
  return body.subarray(ENVELOPE_HEADER_BYTES, end);
}

function parseRequest(schema: DescMessage, bytes: Buffer) {
  try {
    return fromBinary(schema, bytes);
  } catch (e) {
    return new ConnectError(
      `request message cannot be parsed: ${e instanceof Error ? e.message : String(e)}`,
      Code.InvalidArgument,
    );
  }
}

function requestHeaders(headers: http2.IncomingHttpHeaders): Headers {
  const h = new Headers();
  for (const key in headers) {
    if (key.charCodeAt(0) === 58 /* ":" */) continue;
    const value = headers[key];
    if (typeof value === "string") h.append(key, value);
    else if (Array.isArray(value)) for (const v of value) h.append(key, v);
  }
  return h;
}

async function invoke(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  spec: Extract<MethodImplSpec, { kind: "unary" }>,
  options: GrpcUnaryPathOptions,
  running: Set<CallSignal>,
  body: Buffer,
): Promise<void> {
  const method = spec.method;
  const controller = new CallSignal();
  const responseHeader = new Headers();
  const responseTrailer = new Headers();
  let deadline: NodeJS.Timeout | undefined;
  const onClose = () => {
    controller.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  };
  try {
    const timeout = parseTimeout((headers["grpc-timeout"] as string | undefined) ?? null, 2 ** 31);
    if (timeout.error) throw timeout.error;
    const unwrapped = unwrapEnvelope(body, options.readMaxBytes);
    if (unwrapped instanceof ConnectError) throw unwrapped;
    const input = parseRequest(method.input, unwrapped);
    if (input instanceof ConnectError) throw input;
    if (options.shutdownSignal?.aborted) throw ConnectError.from(options.shutdownSignal.reason);
    running.add(controller);
    stream.once("close", onClose);
    const deadlineAt = timeout.timeoutMs !== undefined ? Date.now() + timeout.timeoutMs : undefined;
    if (timeout.timeoutMs !== undefined) {
      deadline = setTimeout(
        () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
        timeout.timeoutMs,
      );
    }
    const url = `http://${headers[":authority"] ?? "localhost"}${headers[":path"] ?? ""}`;
    const call = withInterceptors(async (req): Promise<UnaryResponse> => {
      const context: HandlerContext = {
        method,
        service: req.service,
        // read when the handler looks: the signal is made then
        get signal() {
          return req.signal;
        },
        timeoutMs: () => (deadlineAt === undefined ? undefined : deadlineAt - Date.now()),
        requestMethod: req.requestMethod,
        requestHeader: req.header,
        responseHeader,
        responseTrailer,
        protocolName: "grpc",
        values: req.contextValues,
        url: req.url,
      };
      const output = await spec.impl(req.message as never, context);
      return {
        stream: false,
        service: method.parent,
        method,
        header: responseHeader,
        trailer: responseTrailer,
        message: isMessage(output, method.output) ? output : create(method.output, output),
      };
    }, options.interceptors);
    const request: UnaryRequest = {
      stream: false,
      service: method.parent,
      method,
      requestMethod: "POST",
      url,
      get signal() {
        return controller.signal;
      },
      header: requestHeaders(headers),
      contextValues: options.contextValues
        ? options.contextValues(stream.session?.socket as Socket)
        : createContextValues(),
      message: input,
    };
    const res = await call(request);
    if (res.stream) throw new ConnectError("a unary call answered a stream", Code.Internal);
    respondMessage(stream, toBinary(method.output, res.message), res.header, res.trailer);
  } catch (e) {
    respondError(stream, ConnectError.from(e), responseHeader);
  } finally {
    clearTimeout(deadline);
    running.delete(controller);
    stream.off("close", onClose);
  }
}

type CallFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;

/** The first interceptor is the outermost, as in connect. */
function withInterceptors(
  last: (req: UnaryRequest) => Promise<UnaryResponse>,
  interceptors: Interceptor[],
): CallFn {
  let next = last as CallFn;
  for (let i = interceptors.length - 1; i >= 0; i--) next = (interceptors[i] as Interceptor)(next);
  return next;
}

type OutgoingHeaders = http2.OutgoingHttpHeaders;

function copyInto(target: OutgoingHeaders, from: Headers | undefined): OutgoingHeaders {
  from?.forEach((value, key) => {
    target[key] = value;
  });
  return target;
}

function respondMessage(
  stream: http2.ServerHttp2Stream,
  payload: Uint8Array,
  header: Headers,
  trailer: Headers,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const frame = Buffer.allocUnsafe(ENVELOPE_HEADER_BYTES + payload.length);
  frame[0] = 0;
  frame.writeUInt32BE(payload.length, 1);
  frame.set(payload, ENVELOPE_HEADER_BYTES);
  const trailers = copyInto({}, trailer);
  trailers["grpc-status"] = "0";
  stream.once("wantTrailers", () => stream.sendTrailers(trailers));
  stream.respond(copyInto({ ":status": 200, "content-type": RESPONSE_CONTENT_TYPE }, header), {
    waitForTrailers: true,
  });
  stream.end(frame);
}

/** A trailers-only response carrying the status; the rest of the request body is not read. */
function respondError(
  stream: http2.ServerHttp2Stream,
  error: ConnectError,
  header: Headers | undefined,
): void {
  if (stream.destroyed || stream.headersSent) return;
  const status = setTrailerStatus(new Headers(header), error);
  status.set("grpc-message", percentEncodeMessage(error.rawMessage));
  stream.respond(copyInto({ ":status": 200, "content-type": RESPONSE_CONTENT_TYPE }, status), {
    endStream: true,
  });
  // whatever the client still sends is of no use: stop it without an error (RST_STREAM NO_ERROR)
  if (!stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/**
 * grpc-message as the gRPC spec encodes it: only bytes outside printable ASCII and "%" are
 * percent-encoded. encodeURIComponent also encodes "," and the like, which gRPC libraries that
 * decode with decodeURI (grpc-js) then show as "%2C".
 */
export function percentEncodeMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
