import type { Interceptor } from "@connectrpc/connect";
import { withCallSignal } from "../runtime/index.js";

/**
 * Puts each call's signal (aborted at its deadline or when the client goes) into the call
 * scope, so that a runtime waiting for a workspace's container inside the call stops in time.
 */
export const callScopeInterceptor: Interceptor = (next) => (req) =>
  withCallSignal(req.signal, () => next(req));
