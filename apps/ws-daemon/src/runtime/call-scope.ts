import { AsyncLocalStorage } from "node:async_hooks";

const scope = new AsyncLocalStorage<AbortSignal>();

/**
 * Runs `work` as part of an RPC whose signal (aborted at the call's deadline or when the client
 * goes away) bounds whatever waits inside it. The in-workspace API's handlers reach the runtime
 * through the Linux module, whose methods take no signal; the RPC layer's interceptor puts the
 * call's signal here instead, so a runtime that waits for a container stops waiting in time.
 */
export function withCallSignal<T>(signal: AbortSignal, work: () => T): T {
  return scope.run(signal, work);
}

/** The signal of the RPC the current work belongs to, if any. */
export function currentCallSignal(): AbortSignal | undefined {
  return scope.getStore();
}
