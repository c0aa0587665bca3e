import {
  create,
  type DescMessage,
  type DescMethod,
  type DescService,
  type MessageInitShape,
  type MessageShape,
} from "@bufbuild/protobuf";
import {
  type Code,
  ConnectError,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import { implementationError } from "./implementation-error.js";
import { LiveFeed } from "./live-feed.js";

/** One recorded call of a mocked method. */
export interface MockCall<I extends DescMessage> {
  /** The request; for client- and bidi-streaming methods the first request, if any. */
  readonly request: MessageShape<I> | undefined;
  /** Every request message received, in order (one for unary and server-streaming calls). */
  readonly requests: readonly MessageShape<I>[];
  readonly context: HandlerContext;
}

export interface MockErrorOptions {
  /** Error details, e.g. messages created with `create(SomeSchema, ...)` and their schema. */
  details?: ConstructorParameters<typeof ConnectError>[3];
  /** Metadata sent as response trailers / headers. */
  metadata?: HeadersInit;
}

interface MethodMockBase<I extends DescMessage, O extends DescMessage> {
  readonly method: DescMethod;
  /** Every call received, oldest first. */
  readonly calls: readonly MockCall<I>[];
  /** Answer every following call with an error carrying `code`. */
  fails(code: Code, message?: string, options?: MockErrorOptions): this;
  /** Answer only the next call with an error; queued before the standing behaviour. */
  failsOnce(code: Code, message?: string, options?: MockErrorOptions): this;
  /** Forget recorded calls and stubs, back to the default response. */
  reset(): this;
  /** @internal the response schema, for defaults. */
  readonly output: O;
}

type Awaitable<T> = T | Promise<T>;

export interface UnaryMock<I extends DescMessage, O extends DescMessage>
  extends MethodMockBase<I, O> {
  /** Answer every following call with this response. */
  returns(response: MessageInitShape<O>): this;
  /** Answer only the next call with this response. */
  returnsOnce(response: MessageInitShape<O>): this;
  /** Answer calls with a function, e.g. a `vi.fn()`. */
  implement(
    fn: (request: MessageShape<I>, context: HandlerContext) => Awaitable<MessageInitShape<O>>,
  ): this;
}

export interface StreamOptions {
  /** Wait this long before each response, as a real stream of progress would. */
  intervalMs?: number;
}

export interface ServerStreamingMock<I extends DescMessage, O extends DescMessage>
  extends MethodMockBase<I, O> {
  /** Answer every following call with these responses, then end the stream. */
  returns(responses: readonly MessageInitShape<O>[], options?: StreamOptions): this;
  returnsOnce(responses: readonly MessageInitShape<O>[], options?: StreamOptions): this;
  implement(
    fn: (request: MessageShape<I>, context: HandlerContext) => AsyncIterable<MessageInitShape<O>>,
  ): this;
  /**
   * Answer the next call with a stream the test feeds while it is open: `send()` responses,
   * then `end()` or `fail()`. Queued like the `...Once` answers.
   */
  live(): LiveStream<I, O>;
}

/** A response stream a test drives by hand (`ServerStreamingMock.live()`). */
export interface LiveStream<I extends DescMessage, O extends DescMessage> {
  /** Resolves with the call once a client has opened the stream. */
  readonly opened: Promise<MockCall<I>>;
  /** Resolves when the client went away (cancelled) or the stream was ended or failed. */
  readonly closed: Promise<void>;
  send(response: MessageInitShape<O>): void;
  end(): void;
  fail(code: Code, message?: string, options?: MockErrorOptions): void;
}

export interface ClientStreamingMock<I extends DescMessage, O extends DescMessage>
  extends MethodMockBase<I, O> {
  returns(response: MessageInitShape<O>): this;
  returnsOnce(response: MessageInitShape<O>): this;
  implement(
    fn: (
      requests: AsyncIterable<MessageShape<I>>,
      context: HandlerContext,
    ) => Awaitable<MessageInitShape<O>>,
  ): this;
}

export interface BidiStreamingMock<I extends DescMessage, O extends DescMessage>
  extends MethodMockBase<I, O> {
  /** Answer each request with the next of these responses (the last one repeats). */
  returns(responses: readonly MessageInitShape<O>[]): this;
  returnsOnce(responses: readonly MessageInitShape<O>[]): this;
  implement(
    fn: (
      requests: AsyncIterable<MessageShape<I>>,
      context: HandlerContext,
    ) => AsyncIterable<MessageInitShape<O>>,
  ): this;
}

/**
 * The names of a service's method mocks, e.g. `"takeSnapshot" | "initWorkspace" | ...` for a
 * generated descriptor (`string` for an untyped `DescService`).
 */
export type MethodName<S extends DescService> = S extends { method: infer M }
  ? Extract<keyof M, string>
  : string;

/** The request schema of method `K` of service `S`. */
export type MethodInput<S extends DescService, K extends string> = S extends { method: infer M }
  ? K extends keyof M
    ? M[K] extends { input: infer I extends DescMessage }
      ? I
      : DescMessage
    : DescMessage
  : DescMessage;

/** For each method mock, the method's name in the .proto (`takeSnapshot: "TakeSnapshot"`). */
export type RpcNames<S extends DescService> = { readonly [K in MethodName<S>]: string };

/**
 * One entry of `$calls()`: which method mock was called, under the name of its property on the
 * mock (`method`, e.g. "takeSnapshot") and in the .proto (`rpc`, e.g. "TakeSnapshot"), with the
 * recorded call typed by that method's request.
 */
export type RecordedCall<S extends DescService, R extends RpcNames<S> = RpcNames<S>> = {
  [K in MethodName<S>]: {
    readonly method: K;
    readonly rpc: R[K];
    readonly call: MockCall<MethodInput<S, K>>;
  };
}[MethodName<S>];

/**
 * Members common to every generated service mock. They start with `$` because no protobuf
 * method can be named that way, so they never collide with a method mock.
 */
export interface ServiceMock<S extends DescService, R extends RpcNames<S> = RpcNames<S>> {
  readonly $service: S;
  /** The mock as a connect service implementation, for a router or `createRouterTransport`. */
  $implementation(): ServiceImpl<S>;
  /** Reset every method mock. */
  $reset(): void;
  /** All calls of all methods, in arrival order. */
  $calls(): readonly RecordedCall<S, R>[];
}

type Behaviour =
  | { kind: "default" }
  | { kind: "value"; value: unknown; intervalMs?: number }
  | { kind: "live"; feed: LiveFeed }
  | { kind: "error"; code: Code; message: string; options: MockErrorOptions }
  | { kind: "impl"; fn: (...args: never[]) => unknown };

// biome-ignore lint/suspicious/noExplicitAny: one runtime object backs all four typed mock shapes
type AnyMock = any;

function toError(b: Pick<Extract<Behaviour, { kind: "error" }>, "code" | "message" | "options">) {
  return new ConnectError(b.message, b.code, b.options.metadata, b.options.details);
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    });
  });

function createMethodMock(method: DescMethod, log: (call: MockCall<DescMessage>) => void): AnyMock {
  /** Anything but a ConnectError thrown while answering is a bug in the test: say what and where. */
  const fail = (thrown: unknown): ConnectError => {
    const error = implementationError(method, thrown);
    if (error !== thrown) {
      console.error(`[@ws-daemon/api-mocks] ${error.rawMessage}; the client gets INTERNAL`, thrown);
    }
    return error;
  };
  let standing: Behaviour = { kind: "default" };
  let queue: Behaviour[] = [];
  const calls: MockCall<DescMessage>[] = [];
  const next = (): Behaviour => queue.shift() ?? standing;
  const output = method.output;

  const mock: AnyMock = {
    method,
    calls,
    output,
    returns(value: unknown, options: StreamOptions = {}) {
      standing = { kind: "value", value, ...options };
      return mock;
    },
    returnsOnce(value: unknown, options: StreamOptions = {}) {
      queue.push({ kind: "value", value, ...options });
      return mock;
    },
    live() {
      const feed = new LiveFeed();
      queue.push({ kind: "live", feed });
      return {
        opened: feed.opened,
        closed: feed.closed,
        send: (value: unknown) => feed.push({ value }),
        end: () => feed.push({ end: true }),
        fail: (code: Code, message = "mock error", options: MockErrorOptions = {}) =>
          feed.push({ error: toError({ code, message, options }) }),
      };
    },
    fails(code: Code, message = "mock error", options: MockErrorOptions = {}) {
      standing = { kind: "error", code, message, options };
      return mock;
    },
    failsOnce(code: Code, message = "mock error", options: MockErrorOptions = {}) {
      queue.push({ kind: "error", code, message, options });
      return mock;
    },
    implement(fn: (...args: never[]) => unknown) {
      standing = { kind: "impl", fn };
      return mock;
    },
    reset() {
      standing = { kind: "default" };
      queue = [];
      calls.length = 0;
      return mock;
    },
  };

  const record = (requests: unknown[], context: HandlerContext): MockCall<DescMessage> => {
    const call = {
      get request() {
        return requests[0];
      },
      requests,
      context,
    } as MockCall<DescMessage>;
    calls.push(call);
    log(call);
    return call;
  };

  const make = (init: unknown) => create(output, init as MessageInitShape<DescMessage>);

  async function* recording(source: AsyncIterable<unknown>, into: unknown[]) {
    for await (const message of source) {
      into.push(message);
      yield message;
    }
  }

  switch (method.methodKind) {
    case "unary":
      mock.handler = async (request: unknown, context: HandlerContext) => {
        record([request], context);
        const b = next();
        if (b.kind === "error") throw toError(b);
        try {
          if (b.kind === "value") return make(b.value);
          if (b.kind === "impl") return make(await (b.fn as AnyMock)(request, context));
          return make({});
        } catch (e) {
          throw fail(e);
        }
      };
      break;
    case "server_streaming":
      mock.handler = async function* (request: unknown, context: HandlerContext) {
        const call = record([request], context);
        const b = next();
        if (b.kind === "error") throw toError(b);
        if (b.kind === "live") {
          for await (const v of b.feed.serve(call, context.signal)) yield make(v);
          return;
        }
        try {
          if (b.kind === "value") {
            for (const v of b.value as unknown[]) {
              if (b.intervalMs) await sleep(b.intervalMs, context.signal);
              if (context.signal.aborted) return;
              yield make(v);
            }
          } else if (b.kind === "impl") {
            for await (const v of (b.fn as AnyMock)(request, context) as AsyncIterable<unknown>)
              yield make(v);
          } else {
            yield make({});
          }
        } catch (e) {
          throw fail(e);
        }
      };
      break;
    case "client_streaming":
      mock.handler = async (requests: AsyncIterable<unknown>, context: HandlerContext) => {
        const received: unknown[] = [];
        record(received, context);
        const b = next();
        try {
          if (b.kind === "impl")
            return make(await (b.fn as AnyMock)(recording(requests, received), context));
          for await (const r of requests) received.push(r);
          if (b.kind === "error") throw toError(b);
          return make(b.kind === "value" ? b.value : {});
        } catch (e) {
          throw fail(e);
        }
      };
      break;
    case "bidi_streaming":
      mock.handler = async function* (requests: AsyncIterable<unknown>, context: HandlerContext) {
        const received: unknown[] = [];
        record(received, context);
        const b = next();
        if (b.kind === "error") throw toError(b);
        try {
          if (b.kind === "impl") {
            for await (const v of (b.fn as AnyMock)(
              recording(requests, received),
              context,
            ) as AsyncIterable<unknown>) {
              yield make(v);
            }
            return;
          }
          const answers = b.kind === "value" ? (b.value as unknown[]) : [{}];
          let i = 0;
          for await (const r of requests) {
            received.push(r);
            const answer = answers[Math.min(i++, answers.length - 1)];
            if (answer !== undefined) yield make(answer);
          }
        } catch (e) {
          throw fail(e);
        }
      };
      break;
  }
  return mock;
}

/**
 * Builds a mock for any service descriptor. The generated `create<Service>Mock()` functions
 * call this and narrow the result to a typed interface.
 */
export function createServiceMock<S extends DescService>(service: S): ServiceMock<S> {
  const all: { method: string; rpc: string; call: MockCall<DescMessage> }[] = [];
  const methods = new Map<string, AnyMock>();
  for (const method of service.methods) {
    methods.set(
      method.localName,
      createMethodMock(method, (call) =>
        all.push({ method: method.localName, rpc: method.name, call }),
      ),
    );
  }
  const result: AnyMock = {
    $service: service,
    $implementation() {
      const impl: Record<string, unknown> = {};
      for (const [name, mock] of methods) impl[name] = mock.handler;
      return impl as ServiceImpl<S>;
    },
    $reset() {
      all.length = 0;
      for (const mock of methods.values()) mock.reset();
    },
    $calls() {
      return all;
    },
  };
  for (const [name, mock] of methods) result[name] = mock;
  return result as ServiceMock<S>;
}
