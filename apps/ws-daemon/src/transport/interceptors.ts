import { randomUUID } from "node:crypto";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { codeName } from "@ws-daemon/api";
import type { DaemonMetrics, Logger } from "../observability/index.js";
import { logContext } from "../observability/index.js";

const REQUEST_ID_HEADER = "x-request-id";

/**
 * Longest error message sent to a client. Messages may quote request fields (a path, an id):
 * unbounded, a long field made the status header larger than HTTP/2 allows, and the
 * connection was torn down with FRAME_SIZE_ERROR instead of carrying the status.
 */
export const MAX_STATUS_MESSAGE_CHARS = 1024;

/** The same error with its message cut to MAX_STATUS_MESSAGE_CHARS. */
export function boundedStatus(error: ConnectError): ConnectError {
  const raw = error.rawMessage;
  if (raw.length <= MAX_STATUS_MESSAGE_CHARS) return error;
  const cut = `${raw.slice(0, MAX_STATUS_MESSAGE_CHARS)}… (${raw.length - MAX_STATUS_MESSAGE_CHARS} more characters)`;
  const bounded = new ConnectError(
    cut,
    error.code,
    error.metadata,
    undefined,
    error.cause ?? error,
  );
  bounded.details.push(...error.details);
  return bounded;
}

/** Workspace id of a call: the request's `id` field where the method has one, or the socket's workspace. */
function workspaceIdOf(message: unknown, fallback: string | undefined): string | undefined {
  if (typeof message === "object" && message !== null && "id" in message) {
    const id = (message as { id: unknown }).id;
    if (typeof id === "string" && id !== "") return id;
  }
  return fallback;
}

export interface ObservabilityOptions {
  logger: Logger;
  metrics: DaemonMetrics;
  /** Set on the per-workspace in-workspace servers: the workspace the socket belongs to. */
  workspaceId?: string;
}

/**
 * Logs and measures every call: one log line per call with request id, method, workspace id,
 * code and duration. It sits outside the RPC layer's error mapping, so what it sees are status
 * errors already. Request bodies are never logged (they can hold credentials).
 */
export function createObservabilityInterceptor(options: ObservabilityOptions): Interceptor {
  // The closing line holds only fields built here (never request content), so it skips the
  // redaction pass, and it names its fields itself instead of a child logger per call: both
  // were a tenth of the daemon's CPU per unary call.
  const access = options.logger.child({}, { redact: [] });
  const timed = new Map<string, { observe(v: number): void }>();
  const time = (method: string, seconds: number) => {
    let h = timed.get(method);
    if (!h) {
      h = options.metrics.rpcDuration.labels({ method });
      timed.set(method, h);
    }
    h.observe(seconds);
  };
  const names = new WeakMap<object, string>();
  const nameOf = (req: { service: { typeName: string }; method: { name: string } }) => {
    let name = names.get(req.method);
    if (name === undefined) {
      name = `/${req.service.typeName}/${req.method.name}`;
      names.set(req.method, name);
    }
    return name;
  };
  // then() rather than async/await: fewer promises per call, each of which costs more while
  // the log context (AsyncLocalStorage) is in use.
  return (next) => (req) => {
    const started = process.hrtime.bigint();
    const method = nameOf(req);
    const requestId = req.header.get(REQUEST_ID_HEADER) || randomUUID();
    const workspaceId = workspaceIdOf(req.stream ? undefined : req.message, options.workspaceId);
    // Lines written while the call runs get these fields from the log context (logger mixin);
    // the closing line is written outside of it and binds them itself.
    const context = { requestId, method, ...(workspaceId ? { workspaceId } : {}) };
    /** `code` undefined means OK (connect's Code enum has no OK member). */
    const finish = (code: Code | undefined, error?: ConnectError) => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const name = code === undefined ? "OK" : codeName(code);
      options.metrics.countRpc(method, name);
      time(method, seconds);
      const fields = { ...context, code: name, durationMs: Math.round(seconds * 1000) };
      if (!error) access.info(fields, "rpc done");
      else if (code === Code.Internal || code === Code.Unknown || code === Code.DataLoss) {
        // the cause may carry anything: this line goes through the redacting logger
        options.logger.error(
          { ...fields, err: error.cause ?? error },
          `rpc failed: ${error.rawMessage}`,
        );
      } else access.warn(fields, `rpc failed: ${error.rawMessage}`);
    };
    let pending: ReturnType<typeof next>;
    try {
      pending = logContext.run(context, next, req);
    } catch (e) {
      pending = Promise.reject(e);
    }
    return pending.then(
      (res) => {
        res.header.set(REQUEST_ID_HEADER, requestId);
        if (!res.stream) {
          finish(undefined);
          return res;
        }
        // Streams finish later; account for them when the stream ends.
        const source = res.message;
        return {
          ...res,
          message: (async function* () {
            let failure: ConnectError | undefined;
            let completed = false;
            try {
              yield* source;
              completed = true;
            } catch (e) {
              failure = boundedStatus(ConnectError.from(e));
              throw failure;
            } finally {
              // A client that cancels closes the generator without an error: count it as such.
              if (completed) finish(undefined);
              else {
                const error =
                  failure ?? new ConnectError("the client cancelled the stream", Code.Canceled);
                finish(error.code, error);
              }
            }
          })(),
        };
      },
      (e: unknown) => {
        const ce = boundedStatus(ConnectError.from(e));
        ce.metadata.set(REQUEST_ID_HEADER, requestId);
        finish(ce.code, ce);
        throw ce;
      },
    );
  };
}
