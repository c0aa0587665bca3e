import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { MAX_PID, resolveContainerPid, validatePidValue } from "../../src/linux/pid-resolver.js";
import { type FakeContainer, isRoot, startContainer } from "./support/fake-container.js";

async function kindOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "ok";
  } catch (err) {
    return err instanceof LinuxOpError ? err.kind : `other: ${String(err)}`;
  }
}

describe("validatePidValue", () => {
  for (const v of [
    0,
    -1,
    -4_000_000,
    MAX_PID + 1,
    1.5,
    Number.NaN,
    2 ** 53,
    9_223_372_036_854_775_807n,
    -1n,
  ]) {
    it(`rejects ${String(v)} as invalid-argument`, () => {
      expect(() => validatePidValue(v)).toThrow(LinuxOpError);
      try {
        validatePidValue(v);
      } catch (err) {
        expect((err as LinuxOpError).kind).toBe("invalid-argument");
      }
    });
  }
  it("accepts bigint wire values in range", () => {
    expect(validatePidValue(42n)).toBe(42);
  });
});

describe.skipIf(!isRoot)("resolveContainerPid with real pid namespaces", () => {
  let ws: FakeContainer;
  let other: FakeContainer;
  beforeAll(async () => {
    // a nested pid namespace below the container, as ring2 is below ring1
    ws = await startContainer(
      ["sleep 3621", "unshare --pid --fork sleep 3622"],
      ["sleep 3621", "sleep 3622"],
    );
    other = await startContainer(["sleep 3623"], ["sleep 3623"]);
  });
  afterAll(async () => {
    await ws?.stop();
    await other?.stop();
  });

  it("maps pid 1 to the container's root", async () => {
    expect(await resolveContainerPid(ws.rootPid, 1)).toBe(ws.rootPid);
  });

  it("maps a child's container pid to its host pid", async () => {
    const child = await ws.find("sleep 3621");
    expect(child.nsPids).toHaveLength(2);
    expect(await resolveContainerPid(ws.rootPid, child.nsPids[1] as number)).toBe(child.hostPid);
  });

  it("reads nested-namespace processes at the container's level, not their own", async () => {
    const nested = await ws.find("sleep 3622");
    expect(nested.nsPids).toHaveLength(3);
    expect(nested.nsPids[2]).toBe(1); // pid 1 in its own namespace...
    expect(await resolveContainerPid(ws.rootPid, nested.nsPids[1] as number)).toBe(nested.hostPid);
    // ...but "1" in a request means the container's init
    expect(await resolveContainerPid(ws.rootPid, 1)).toBe(ws.rootPid);
  });

  it("never resolves to another workspace's process", async () => {
    const wsHostPids = new Set([ws.rootPid, ...(await ws.descendants()).map((d) => d.hostPid)]);
    const foreign = await other.descendants();
    expect(foreign.length).toBeGreaterThan(0);
    for (const f of foreign) {
      const res = await resolveContainerPid(ws.rootPid, f.nsPids[1] as number).catch(
        (e: LinuxOpError) => e.kind,
      );
      // the same number may name one of our own processes, but never the foreign one
      if (typeof res === "number") expect(wsHostPids.has(res)).toBe(true);
      else expect(res).toBe("permission-denied");
    }
  });

  it("denies pids that do not exist in the container (host pid 1 is not reachable)", async () => {
    expect(await kindOf(resolveContainerPid(ws.rootPid, 4000))).toBe("permission-denied");
    expect(await kindOf(resolveContainerPid(ws.rootPid, MAX_PID))).toBe("permission-denied");
    // the host's pid of a foreign process means nothing inside the container
    const foreign = await other.find("sleep 3623");
    expect(await kindOf(resolveContainerPid(ws.rootPid, foreign.hostPid))).toBe(
      "permission-denied",
    );
  });

  it("rejects malformed values before looking", async () => {
    for (const v of [-1, 0, MAX_PID + 1])
      expect(await kindOf(resolveContainerPid(ws.rootPid, v))).toBe("invalid-argument");
  });

  it("denies everything once the workspace root is dead", async () => {
    const dead = await startContainer();
    const root = dead.rootPid;
    await dead.stop();
    expect(await kindOf(resolveContainerPid(root, 1))).toBe("permission-denied");
  });
});
