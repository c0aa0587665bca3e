import { abortReasonToError } from "./content-error.js";

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
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};
