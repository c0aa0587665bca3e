import { DomainError } from "../errors.js";

/** The error that an aborted signal stands for: its own DomainError, a deadline or a cancellation. */
export const abortReasonToError = (signal: AbortSignal, what: string): DomainError => {
  const reason: unknown = signal.reason;
  if (reason instanceof DomainError) return reason;
  if (reason instanceof Error && reason.name === "TimeoutError") {
    return new DomainError("deadline-exceeded", `${what}: deadline exceeded`, { cause: reason });
  }
  return new DomainError("cancelled", `${what}: cancelled`, { cause: reason });
};

/**
 * Waits for `promise` unless `signal` aborts first. Aborting only stops the waiting: the work
 * behind the promise goes on (its rejection is observed so it never becomes unhandled).
 */
export const raceAbort = <T>(
  promise: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
): Promise<T> => {
  if (!signal) return promise;
  promise.catch(() => undefined);
  if (signal.aborted) return Promise.reject(abortReasonToError(signal, what));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReasonToError(signal, what));
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
};

export interface Deferred {
  promise: Promise<void>;
  resolve: () => void;
}

export const deferred = (): Deferred => {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};
