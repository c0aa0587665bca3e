import type { Clock } from "../clock.js";

export interface RetryPolicy {
  /** Attempts in all, at least 1. */
  attempts: number;
  /** Delay before the second attempt. */
  delayMs: number;
  /** How the delay grows: constant, delayMs × attempt, or delayMs × 2^(attempt-1). */
  backoff: "constant" | "linear" | "exponential";
  /** Upper bound of any one delay; default unbounded. */
  maxDelayMs?: number;
}

export interface RetryOptions extends RetryPolicy {
  clock: Clock;
  /** Aborting stops the waiting between attempts (the abort reason is thrown). */
  signal?: AbortSignal | undefined;
  /** Whether this failure deserves another attempt; false rethrows it at once. */
  retryable: (err: unknown, attempt: number) => boolean;
  /** Before waiting for the next attempt, e.g. to log or to clean up the failed one. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void | Promise<void>;
}

/** The wait after failed attempt number `attempt` (1-based). */
export const retryDelay = (policy: RetryPolicy, attempt: number): number => {
  const base =
    policy.backoff === "constant"
      ? policy.delayMs
      : policy.backoff === "linear"
        ? policy.delayMs * attempt
        : policy.delayMs * 2 ** (attempt - 1);
  return Math.min(base, policy.maxDelayMs ?? Number.POSITIVE_INFINITY);
};

/**
 * Runs `op` until it succeeds, fails with a non-retryable error, or the attempts are used up (the
 * last error is thrown). `op` receives the attempt number, starting at 1.
 */
export async function retry<T>(
  op: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const attempts = Math.max(1, Math.floor(options.attempts));
  for (let attempt = 1; ; attempt++) {
    try {
      return await op(attempt);
    } catch (err) {
      if (attempt >= attempts || !options.retryable(err, attempt)) throw err;
      const delayMs = retryDelay(options, attempt);
      await options.onRetry?.(err, attempt, delayMs);
      await options.clock.sleep(delayMs, options.signal);
    }
  }
}
