import type * as http2 from "node:http2";
import type { Socket } from "node:net";
import { type DescMessage, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type Interceptor } from "@connectrpc/connect";
import { parseTimeout } from "@connectrpc/connect/protocol-grpc";
import { BodyDeadlines } from "./body-deadlines.js";
import { CallHeaders } from "./call-headers.js";
import { CallSignal } from "./call-signal.js";
import { ENVELOPE_HEADER_BYTES, respondError, respondMessage } from "./grpc-respond.js";
import type { MethodsByPath } from "./recorded-services.js";
import { Slots } from "./slots.js";
import {
  type CallFn,
  createUnaryChain,
  type UnaryCallState,
  type UnarySpec,
  withCallState,
} from "./unary-call-chain.js";
import { UnaryCallRequest } from "./unary-call-request.js";

export { percentEncodeMessage } from "./grpc-respond.js";

const GRPC_CONTENT_TYPES = new Set(["application/grpc", "application/grpc+proto"]);

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
  const running = new Slots<CallSignal>();
  // per method, made on its first call: the interceptor chain and what its calls share
  const servings = new Map<UnarySpec, MethodServing>();
  const servingOf = (spec: UnarySpec) => {
    let serving = servings.get(spec);
    if (!serving) {
      serving = { spec, chain: createUnaryChain(spec, options.interceptors), options, running };
      servings.set(spec, serving);
    }
    return serving;
  };
  options.shutdownSignal?.addEventListener("abort", () => {
    running.forEach((c) => {
      c.abort(options.shutdownSignal?.reason);
    });
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
    serveUnary(stream, headers, servingOf(spec), bodies);
    return true;
  };
}

/** What serving one call of a method needs, beyond the stream. */
interface MethodServing {
  spec: UnarySpec;
  chain: CallFn;
  options: GrpcUnaryPathOptions;
  /** The calls whose signal exists, to abort on shutdown. */
  running: Slots<CallSignal>;
}

function serveUnary(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  serving: MethodServing,
  bodies: BodyDeadlines,
): void {
  const options = serving.options;
  const limit = options.readMaxBytes;
  const chunks: Buffer[] = [];
  let received = 0;
  let refused = false;
  const waiting = bodies.add(stream);
  stream.on("data", (chunk: Buffer) => {
    if (refused) return;
    received += chunk.length;
    // the envelope's length prefix is known after 5 bytes: refuse a too large message early
    if (received > limit + ENVELOPE_HEADER_BYTES || tooLarge(chunks, chunk, limit)) {
      refused = true;
      chunks.length = 0;
      bodies.delete(waiting, stream);
      options.onLimitExceeded?.("readMaxBytes");
      respondError(stream, messageTooLarge(limit), undefined);
      return;
    }
    chunks.push(chunk);
  });
  stream.on("end", () => {
    bodies.delete(waiting, stream);
    if (refused || stream.headersSent) return;
    const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
    invoke(stream, headers, serving, body);
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

function invoke(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  serving: MethodServing,
  body: Buffer,
): void {
  const { spec, options, running } = serving;
  const method = spec.method;
  const state: UnaryCallState = {
    responseHeader: new CallHeaders(),
    responseTrailer: new CallHeaders(),
    deadlineAt: undefined,
  };
  const onClose = () => {
    controller.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  };
  let watching = -1;
  let answered = false;
  // Only a signal someone asked for needs the stream's close and the shutdown to abort it.
  const controller = new CallSignal(() => {
    if (answered) return;
    watching = running.add(controller);
    if (options.shutdownSignal?.aborted) controller.abort(options.shutdownSignal.reason);
    if (stream.closed || stream.destroyed) onClose();
    else stream.once("close", onClose);
  });
  let deadline: NodeJS.Timeout | undefined;
  const done = () => {
    answered = true;
    clearTimeout(deadline);
    if (watching !== -1) {
      running.remove(watching, controller);
      stream.off("close", onClose);
    }
  };
  try {
    const timeout = parseTimeout((headers["grpc-timeout"] as string | undefined) ?? null, 2 ** 31);
    if (timeout.error) throw timeout.error;
    const unwrapped = unwrapEnvelope(body, options.readMaxBytes);
    if (unwrapped instanceof ConnectError) throw unwrapped;
    const input = parseRequest(method.input, unwrapped);
    if (input instanceof ConnectError) throw input;
    if (options.shutdownSignal?.aborted) throw ConnectError.from(options.shutdownSignal.reason);
    if (timeout.timeoutMs !== undefined) {
      state.deadlineAt = Date.now() + timeout.timeoutMs;
      deadline = setTimeout(
        () => controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded)),
        timeout.timeoutMs,
      );
    }
    const request = new UnaryCallRequest(
      method,
      new CallHeaders(headers),
      input,
      stream,
      headers,
      controller,
      options.contextValues,
    );
    state.request = request;
    // then() rather than await: one promise fewer per call
    serving.chain(withCallState(request, state)).then(
      (res) => {
        try {
          if (res.stream) throw new ConnectError("a unary call answered a stream", Code.Internal);
          respondMessage(stream, toBinary(method.output, res.message), res.header, res.trailer);
        } catch (e) {
          respondError(stream, ConnectError.from(e), state.responseHeader, state.responseTrailer);
        }
        done();
      },
      (e: unknown) => {
        respondError(stream, ConnectError.from(e), state.responseHeader, state.responseTrailer);
        done();
      },
    );
  } catch (e) {
    respondError(stream, ConnectError.from(e), state.responseHeader, state.responseTrailer);
    done();
  }
}
