import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";

/**
 * At most `max` calls at once through this interceptor (a stream counts until it ends); one
 * more is RESOURCE_EXHAUSTED at once. Each workspace socket has its own, so one workspace
 * cannot hold the daemon's work for all.
 */
export function createInFlightLimit(max: number, onExceeded?: () => void): Interceptor {
  let inFlight = 0;
  return (next) => async (req) => {
    if (inFlight >= max) {
      onExceeded?.();
      throw new ConnectError(
        `too many calls in flight on this socket (limit maxInFlightCalls: ${max})`,
        Code.ResourceExhausted,
      );
    }
    inFlight++;
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (e) {
      inFlight--;
      throw e;
    }
    if (!res.stream) {
      inFlight--;
      return res;
    }
    const source = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* source;
        } finally {
          inFlight--;
        }
      })(),
    };
  };
}
