import { create, isMessage } from "@bufbuild/protobuf";
import type {
  HandlerContext,
  Interceptor,
  MethodImplSpec,
  StreamRequest,
  StreamResponse,
  UnaryRequest,
  UnaryResponse,
} from "@connectrpc/connect";
import { CallHeaders } from "./call-headers.js";

export type UnarySpec = Extract<MethodImplSpec, { kind: "unary" }>;
export type CallFn = (req: UnaryRequest | StreamRequest) => Promise<UnaryResponse | StreamResponse>;

/** What a call's innermost step needs from the transport besides the request itself. */
export interface UnaryCallState {
  responseHeader: Headers;
  responseTrailer: Headers;
  /** Date.now() at the call's deadline. */
  deadlineAt: number | undefined;
  /** The request the transport made (its signal, url and context values are getters). */
  request?: UnaryRequest | undefined;
}

const CALL_STATE = Symbol("unary call state");

/** A request carrying its call's state (an interceptor that spreads the request keeps it). */
export type UnaryRequestWithState = UnaryRequest & { [CALL_STATE]: UnaryCallState };

export const withCallState = (req: UnaryRequest, state: UnaryCallState): UnaryRequestWithState =>
  Object.assign(req, { [CALL_STATE]: state });

/**
 * The interceptors around a method's implementation, built once per method rather than per
 * call (the first interceptor is the outermost, as in connect). The per-call parts travel on
 * the request; a request an interceptor built from scratch gets fresh response headers.
 */
export function createUnaryChain(spec: UnarySpec, interceptors: readonly Interceptor[]): CallFn {
  const method = spec.method;
  const answer = (state: UnaryCallState, output: unknown): UnaryResponse => ({
    stream: false,
    service: method.parent,
    method,
    header: state.responseHeader,
    trailer: state.responseTrailer,
    message: isMessage(output, method.output) ? output : create(method.output, output as never),
  });
  // Not an async function: a handler that answers at once (most do) costs one promise, not three.
  const innermost = (req: UnaryRequest): Promise<UnaryResponse> => {
    const state = (req as Partial<UnaryRequestWithState>)[CALL_STATE] ?? {
      responseHeader: new CallHeaders(),
      responseTrailer: new CallHeaders(),
      deadlineAt: undefined,
    };
    const context = new UnaryHandlerContext(method, req, state);
    try {
      const output: unknown = spec.impl(req.message as never, context);
      if (output instanceof Promise) return output.then((o: unknown) => answer(state, o));
      if (isThenable(output)) return Promise.resolve(output).then((o) => answer(state, o));
      return Promise.resolve(answer(state, output));
    } catch (e) {
      return Promise.reject(e);
    }
  };
  let next = innermost as CallFn;
  for (let i = interceptors.length - 1; i >= 0; i--) {
    next = (interceptors[i] as Interceptor)(next);
  }
  return next;
}

/**
 * What a handler sees of its call. The signal and url are read from the request when the
 * handler asks (the signal is made then); like UnaryCallRequest, a class rather than an object
 * literal with getters, which kept each call alive through young-generation collections. A
 * request an interceptor spread has lost its getters: the request the transport made, kept in
 * the call state, answers for it.
 */
class UnaryHandlerContext implements HandlerContext {
  readonly service: HandlerContext["service"];
  readonly requestMethod: string;
  readonly requestHeader: Headers;
  readonly responseHeader: Headers;
  readonly responseTrailer: Headers;
  readonly protocolName = "grpc";
  readonly values: HandlerContext["values"];
  private readonly origin: UnaryRequest;

  constructor(
    readonly method: HandlerContext["method"],
    req: UnaryRequest,
    private readonly state: UnaryCallState,
  ) {
    this.origin = state.request ?? req;
    this.service = req.service;
    this.requestMethod = req.requestMethod;
    this.requestHeader = req.header;
    this.responseHeader = state.responseHeader;
    this.responseTrailer = state.responseTrailer;
    this.values = req.contextValues ?? this.origin.contextValues;
  }

  get signal(): AbortSignal {
    return this.origin.signal;
  }

  get url(): string {
    return this.origin.url;
  }

  // an own function, as in connect: a handler may pass it on detached from the context
  readonly timeoutMs = (): number | undefined => {
    const deadlineAt = this.state.deadlineAt;
    return deadlineAt === undefined ? undefined : deadlineAt - Date.now();
  };
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === "object" &&
  value !== null &&
  typeof (value as { then?: unknown }).then === "function" &&
  !isMessageObject(value);

/** protobuf-es messages carry their type name; one with a field called "then" is still a message. */
const isMessageObject = (value: object) => "$typeName" in value;
