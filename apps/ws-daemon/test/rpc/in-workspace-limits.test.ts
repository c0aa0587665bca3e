import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { DomainError } from "../../src/platform/index.js";
import {
  createInWorkspaceService,
  defaultInWorkspaceLimits,
  toConnectError,
} from "../../src/rpc/index.js";

/** A clock that moves only when told. */
const manualClock = () => {
  let now = 0;
  return { now: () => now, advance: (ms: number) => (now += ms) };
};

/** Every mutating call succeeds at once and is counted. */
function service(
  clock: ReturnType<typeof manualClock>,
  workspaceId = "ws-a",
  limits = defaultInWorkspaceLimits(clock as never, { burst: 3, refillIntervalMs: 1000 }),
) {
  const calls: string[] = [];
  const done = (name: string) => async () => {
    calls.push(name);
  };
  const linux = {
    mountProc: done("mountProc"),
    umountProc: done("umountProc"),
    mountSysfs: done("mountSysfs"),
    umountSysfs: done("umountSysfs"),
    mountNfs: done("mountNfs"),
    umountNfs: done("umountNfs"),
    setupPairVeths: done("setupPairVeths"),
  };
  const impl = createInWorkspaceService({
    workspaceId,
    linux: linux as never,
    limits,
    wipeContent: async () => {},
  });
  return { impl, calls, limits };
}

const ctx = {} as never;
const req = { pid: 1, target: "/proc", source: "", args: "" } as never;

describe("mutating in-workspace calls", () => {
  it("share one token bucket per workspace; beyond it RESOURCE_EXHAUSTED naming the limit, nothing run", async () => {
    const clock = manualClock();
    const { impl, calls, limits } = service(clock);
    await impl.mountProc(req, ctx);
    await impl.umountSysfs(req, ctx);
    await impl.setupPairVeths(req, ctx);
    for (const call of [
      impl.mountProc,
      impl.umountProc,
      impl.mountSysfs,
      impl.umountSysfs,
      impl.mountNfs,
      impl.umountNfs,
      impl.setupPairVeths,
    ]) {
      const err = await Promise.resolve(call(req, ctx)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DomainError);
      const status = toConnectError(err);
      expect(status).toBeInstanceOf(ConnectError);
      expect(status.code).toBe(Code.ResourceExhausted);
      expect(status.rawMessage).toContain("limits.inWorkspace.mutatingCallBurst");
    }
    expect(calls).toEqual(["mountProc", "umountSysfs", "setupPairVeths"]);
    // another workspace has its own bucket
    const other = service(clock, "ws-b", limits);
    await other.impl.mountProc(req, ctx);
    expect(other.calls).toEqual(["mountProc"]);
    // a token returns after the refill interval
    clock.advance(1000);
    await impl.mountNfs(req, ctx);
    expect(calls.at(-1)).toBe("mountNfs");
  });
});
