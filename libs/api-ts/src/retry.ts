import type { DescMethod } from "@bufbuild/protobuf";
import { MethodOptions_IdempotencyLevel as Idempotency } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

export interface RetryOptions {
  /** Attempts in total, the first included (default 4). */
  maxAttempts?: number;
  /** Wait before the first retry (default 100 ms); doubles each time up to maxBackoffMs. */
  initialBackoffMs?: number;
  /** Upper bound of one wait (default 3000 ms). */
  maxBackoffMs?: number;
  /** Codes worth another attempt (default UNAVAILABLE only). */
  retryableCodes?: readonly Code[];
  /**
   * Which methods are safe to repeat. Default: those the .proto marks with
   * `idempotency_level = NO_SIDE_EFFECTS` or `IDEMPOTENT`.
   */
  isIdempotent?: (method: DescMethod) => boolean;
  /** Called before each retry, e.g. for logging. */
  onRetry?: (info: {
    method: DescMethod;
    attempt: number;
    delayMs: number;
    error: ConnectError;
  }) => void;
}

const declaredIdempotent = (method: DescMethod): boolean =>
  method.idempotency === Idempotency.NO_SIDE_EFFECTS ||
  method.idempotency === Idempotency.IDEMPOTENT;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/**
 * Retries unary calls of idempotent methods that fail with a retryable code, with
 * exponential backoff and full jitter. The call's deadline and cancellation still apply: a
 * retry never outlives the caller's signal.
 */
export function createRetryInterceptor(options: RetryOptions = {}): Interceptor {
  const maxAttempts = Math.max(1, options.maxAttempts ?? 4);
  const initial = options.initialBackoffMs ?? 100;
  const max = options.maxBackoffMs ?? 3000;
  const retryable = new Set(options.retryableCodes ?? [Code.Unavailable]);
  const isIdempotent = options.isIdempotent ?? declaredIdempotent;
  return (next) => async (req) => {
    if (req.stream || !isIdempotent(req.method)) return next(req);
    for (let attempt = 1; ; attempt++) {
      try {
        return await next(req);
      } catch (e) {
        const error = ConnectError.from(e);
        if (attempt >= maxAttempts || !retryable.has(error.code) || req.signal.aborted) throw error;
        const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
        const delayMs = Math.round(Math.random() * ceiling);
        options.onRetry?.({ method: req.method, attempt, delayMs, error });
        await sleep(delayMs, req.signal);
      }
    }
  };
}
