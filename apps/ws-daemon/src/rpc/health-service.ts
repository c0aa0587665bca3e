import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type Health,
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as Status,
} from "@ws-daemon/api";

export { Status as ServingStatus };

/**
 * The service name the liveness probe asks for: SERVING as long as the process answers, even
 * while the node is not ready (restarting the daemon cannot free disk space or bring back the
 * container runtime, so liveness must not depend on them).
 */
export const LIVENESS_SERVICE = "liveness";

/**
 * The serving status of the server ("") and of each service, with change notification for
 * Health.Watch. Shutdown flips everything to NOT_SERVING first, so probes stop routing here.
 */
export class HealthBoard {
  private readonly statuses = new Map<string, Status>();
  private readonly listeners = new Set<() => void>();

  set(service: string, status: Status): void {
    if (this.statuses.get(service) === status) return;
    this.statuses.set(service, status);
    for (const l of this.listeners) l();
  }

  get(service: string): Status | undefined {
    return this.statuses.get(service);
  }

  all(): ReadonlyMap<string, Status> {
    return this.statuses;
  }

  setAll(status: Status): void {
    for (const service of [...this.statuses.keys()]) this.set(service, status);
  }

  /** Resolves at the next change, or when the signal aborts. */
  nextChange(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.listeners.delete(done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.listeners.add(done);
      signal.addEventListener("abort", done, { once: true });
    });
  }
}

/**
 * Readiness on the board: the server ("") and the given services are SERVING only while the
 * node can take work; the liveness entry is not touched.
 */
export function applyReadiness(
  board: HealthBoard,
  services: readonly string[],
  ready: boolean,
): void {
  const status = ready ? Status.SERVING : Status.NOT_SERVING;
  for (const service of ["", ...services]) board.set(service, status);
}

export function createHealthService(board: HealthBoard): ServiceImpl<typeof Health> {
  return {
    check(req) {
      const status = board.get(req.service);
      if (status === undefined)
        throw new ConnectError(`unknown service "${req.service}"`, Code.NotFound);
      return { status };
    },
    list() {
      const statuses: Record<
        string,
        ReturnType<typeof create<typeof HealthCheckResponseSchema>>
      > = {};
      for (const [name, status] of board.all())
        statuses[name] = create(HealthCheckResponseSchema, { status });
      return { statuses };
    },
    async *watch(req, ctx) {
      let last: Status | undefined;
      while (!ctx.signal.aborted) {
        const status = board.get(req.service) ?? Status.SERVICE_UNKNOWN;
        if (status !== last) {
          last = status;
          yield { status };
        }
        await board.nextChange(ctx.signal);
      }
    },
  };
}
