/**
 * The slots of the Int32Array over the SharedArrayBuffer that bounds what the chunk worker hands
 * over: bytes of chunks not yet consumed by the daemon, and a flag that stops the worker.
 */
export const CREDIT_IN_FLIGHT = 0;
export const CREDIT_CANCELLED = 1;
