import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { DomainError, type StatusKind } from "../platform/index.js";

/**
 * The one place that turns a domain failure into a gRPC status. Exhaustive: a StatusKind
 * without a code here does not compile.
 */
export const codeOfKind: Record<StatusKind, Code> = {
  "invalid-argument": Code.InvalidArgument,
  "not-found": Code.NotFound,
  "already-exists": Code.AlreadyExists,
  "failed-precondition": Code.FailedPrecondition,
  "permission-denied": Code.PermissionDenied,
  unauthenticated: Code.Unauthenticated,
  "resource-exhausted": Code.ResourceExhausted,
  "data-loss": Code.DataLoss,
  unavailable: Code.Unavailable,
  cancelled: Code.Canceled,
  "deadline-exceeded": Code.DeadlineExceeded,
  unimplemented: Code.Unimplemented,
  internal: Code.Internal,
};

/**
 * DomainError -> its kind's code; an abort -> CANCELLED, a timeout -> DEADLINE_EXCEEDED; a
 * ConnectError stays as it is; anything else is INTERNAL (the original stays the cause, for logs).
 */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const wrap = (message: string, code: Code) =>
    new ConnectError(message, code, undefined, undefined, err);
  if (err instanceof DomainError) return wrap(err.message, codeOfKind[err.kind]);
  if (err instanceof Error) {
    if (err.name === "AbortError") return wrap(err.message, Code.Canceled);
    if (err.name === "TimeoutError") return wrap(err.message, Code.DeadlineExceeded);
    return wrap(err.message, Code.Internal);
  }
  return wrap(String(err), Code.Internal);
}

/** A response stream whose errors are mapped too; a unary response as it is. */
function mapStreamErrors<R extends { stream: boolean; message: unknown }>(res: R): R {
  if (!res.stream) return res;
  const source = res.message as AsyncIterable<unknown>;
  return {
    ...res,
    message: (async function* () {
      try {
        yield* source;
      } catch (err) {
        throw toConnectError(err);
      }
    })(),
  };
}

const rethrowMapped = (err: unknown): never => {
  throw toConnectError(err);
};

/**
 * Maps every error a handler throws (unary, or while a response stream runs) to a status.
 * Written with then() rather than async/await: one promise per call instead of three, on every
 * call of every API.
 */
export const errorMappingInterceptor: Interceptor = (next) => (req) => {
  let pending: ReturnType<typeof next>;
  try {
    pending = next(req);
  } catch (err) {
    return Promise.reject(toConnectError(err));
  }
  return pending.then(mapStreamErrors, rethrowMapped);
};
