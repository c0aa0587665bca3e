import { describe, expect, it } from "vitest";
import type { LinuxOpError } from "../../src/linux/errors.js";
import { resolveContainerPid } from "../../src/linux/pid-resolver.js";
import { MAX_PID } from "../../src/platform/index.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, startContainer } from "./support/fake-container.js";

describe.skipIf(!isRoot)("resolveContainerPid with real pid namespaces", () => {
  // a nested pid namespace below the container, as ring2 is below ring1
  const ws = containerForSuite(
    ["sleep 3621", "unshare --pid --fork sleep 3622"],
    ["sleep 3621", "sleep 3622"],
  );
  const other = containerForSuite(["sleep 3623"], ["sleep 3623"]);

  it("maps pid 1 to the container's root", async () => {
    expect(await resolveContainerPid(ws().rootPid, 1)).toBe(ws().rootPid);
  });

  it("maps a child's container pid to its host pid", async () => {
    const child = await ws().find("sleep 3621");
    expect(child.nsPids).toHaveLength(2);
    expect(await resolveContainerPid(ws().rootPid, child.nsPids[1] as number)).toBe(child.hostPid);
  });

  it("reads nested-namespace processes at the container's level, not their own", async () => {
    const nested = await ws().find("sleep 3622");
    expect(nested.nsPids).toHaveLength(3);
    expect(nested.nsPids[2]).toBe(1); // pid 1 in its own namespace...
    expect(await resolveContainerPid(ws().rootPid, nested.nsPids[1] as number)).toBe(
      nested.hostPid,
    );
    // ...but "1" in a request means the container's init
    expect(await resolveContainerPid(ws().rootPid, 1)).toBe(ws().rootPid);
  });

  it("never resolves to another workspace's process", async () => {
    const wsHostPids = new Set([ws().rootPid, ...(await ws().descendants()).map((d) => d.hostPid)]);
    const foreign = await other().descendants();
    expect(foreign.length).toBeGreaterThan(0);
    for (const f of foreign) {
      const res = await resolveContainerPid(ws().rootPid, f.nsPids[1] as number).catch(
        (e: LinuxOpError) => e.kind,
      );
      // the same number may name one of our own processes, but never the foreign one
      if (typeof res === "number") expect(wsHostPids.has(res)).toBe(true);
      else expect(res).toBe("permission-denied");
    }
  });

  it("denies pids that do not exist in the container (host pid 1 is not reachable)", async () => {
    expect(await errorKind(resolveContainerPid(ws().rootPid, 4000))).toBe("permission-denied");
    expect(await errorKind(resolveContainerPid(ws().rootPid, MAX_PID))).toBe("permission-denied");
    // the host's pid of a foreign process means nothing inside the container
    const foreign = await other().find("sleep 3623");
    expect(await errorKind(resolveContainerPid(ws().rootPid, foreign.hostPid))).toBe(
      "permission-denied",
    );
  });

  it("rejects malformed values before looking", async () => {
    for (const v of [-1, 0, MAX_PID + 1])
      expect(await errorKind(resolveContainerPid(ws().rootPid, v))).toBe("invalid-argument");
  });

  it("denies everything once the workspace root is dead", async () => {
    const dead = await startContainer();
    const root = dead.rootPid;
    await dead.stop();
    expect(await errorKind(resolveContainerPid(root, 1))).toBe("permission-denied");
  });
});
