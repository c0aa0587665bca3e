/**
 * The in-workspace API through a workspace's own daemon.sock, on the real daemon with the
 * process runtime and real namespaces (root only).
 */
import { existsSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import {
  Code,
  createDaemonTransport,
  createInWorkspaceClients,
  FSShiftMethod,
  statusOf,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ProcessRuntime } from "../../src/runtime/process-runtime.js";
import {
  type FakeContainer,
  isRoot,
  rootSkipReason,
  startContainer,
} from "../linux/support/fake-container.js";
import { ensureHelperBuilt } from "../linux/support/helper-binary.js";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

if (!isRoot) console.warn(`[in-workspace socket tests] skipped: ${rootSkipReason}`);

const metadata = { owner: "o", metaId: "m" };
const empty = { spec: { case: "empty" as const, value: {} } };

describe.skipIf(!isRoot)("in-workspace API on the workspace socket", () => {
  let d: TestDaemon;
  let container: FakeContainer;
  let other: FakeContainer;
  const clientsFor = (id: string) =>
    createInWorkspaceClients(
      createDaemonTransport({ address: `unix://${d.daemon.sockets.socketPath(id)}` }),
    );

  beforeAll(async () => {
    d = await startTestDaemon({
      linux: { nsHelperPath: ensureHelperBuilt(), vethCidr: "10.0.5.0/30" },
    });
    container = await startContainer(["unshare --user sleep 3621"], ["sleep 3621"]);
    other = await startContainer([], []);
    const runtime = d.daemon.runtime as ProcessRuntime;
    expect(runtime).toBeInstanceOf(ProcessRuntime);
    runtime.register("ws-iws", container.rootPid);
    runtime.register("ws-other", other.rootPid);
    const { content } = d.clients();
    await content.initWorkspace({ id: "ws-iws", metadata, initializer: empty });
    await content.initWorkspace({
      id: "ws-other",
      metadata: { owner: "o", metaId: "m2" },
      initializer: empty,
    });
  });
  afterAll(async () => {
    await container?.stop();
    await other?.stop();
    await d?.stop();
  });

  it("creates daemon.sock in <area>/.sockets/<id> at init", () => {
    expect(existsSync(d.daemon.sockets.socketPath("ws-iws"))).toBe(true);
    expect(d.daemon.sockets.socketPath("ws-iws")).toMatch(
      /workspaces\/\.sockets\/ws-iws\/daemon\.sock$/,
    );
  });

  it("writes a uid map for a process of the workspace and limits the rate", async () => {
    const { inWorkspace } = clientsFor("ws-iws");
    const target = await container.find("sleep 3621");
    const inContainer = target.nsPids[1];
    if (inContainer === undefined)
      throw new Error("the target has no pid in the container's namespace");
    const pidInContainer = BigInt(inContainer);
    const res = await inWorkspace.writeIDMapping({
      pid: pidInContainer,
      gid: false,
      mapping: [{ containerId: 0, hostId: 100000, size: 65536 }],
    });
    expect(res).toMatchObject({ message: "", errorCode: 0 });
    expect(await readFile(`/proc/${target.hostPid}/uid_map`, "utf8")).toMatch(
      /^\s*0\s+100000\s+65536\s*$/,
    );
    // The kernel allows one write: the second is FAILED_PRECONDITION with the kernel's message
    // (issue 11: it used to be an OK carrying the error, which workspacekit never reads).
    const again = await inWorkspace
      .writeIDMapping({
        pid: pidInContainer,
        gid: false,
        mapping: [{ containerId: 0, hostId: 100000, size: 1 }],
      })
      .catch(statusOf);
    expect(again).toMatchObject({ code: Code.FailedPrecondition });
    expect(again?.message).toMatch(/cannot write uid_map of pid \d+: .*operation not permitted/i);
    // Two tokens used; two more pass (rejected for range), the fifth call is over the burst.
    for (let i = 0; i < 2; i++) {
      const err = await inWorkspace
        .writeIDMapping({
          pid: pidInContainer,
          gid: false,
          mapping: [{ containerId: 0, hostId: 1, size: 1 }],
        })
        .catch(statusOf);
      expect(err).toMatchObject({ code: Code.InvalidArgument });
    }
    const limited = await inWorkspace
      .writeIDMapping({
        pid: pidInContainer,
        gid: false,
        mapping: [{ containerId: 0, hostId: 100000, size: 1 }],
      })
      .catch(statusOf);
    expect(limited).toMatchObject({ code: Code.ResourceExhausted });
  });

  it("refuses pids outside the workspace and malformed pids", async () => {
    const { inWorkspace } = clientsFor("ws-iws");
    const otherChild = other.rootPid;
    for (const [pid, code] of [
      [-1n, Code.InvalidArgument],
      [2n ** 40n, Code.InvalidArgument],
      [999_999n, Code.PermissionDenied],
      [BigInt(otherChild), Code.PermissionDenied],
    ] as const) {
      expect(
        await inWorkspace.mountProc({ pid, target: "/proc" }).catch(statusOf),
        `pid ${pid}`,
      ).toMatchObject({ code });
    }
  });

  it("reports resources through both services", async () => {
    const { inWorkspace, workspaceInfo } = clientsFor("ws-other");
    for (const client of [inWorkspace, workspaceInfo]) {
      const info = await client.workspaceInfo({});
      expect(info.resources?.memory?.limit).toBeGreaterThan(0n);
      expect(info.resources?.cpu?.limit).toBeGreaterThan(0n);
    }
  });

  it("allows PrepareForUserNS once", async () => {
    const { inWorkspace } = clientsFor("ws-other");
    const prep = await inWorkspace.prepareForUserNS({});
    expect(prep.fsShift).toBe(FSShiftMethod.IDMAPPED);
    expect(await inWorkspace.prepareForUserNS({}).catch(statusOf)).toMatchObject({
      code: Code.ResourceExhausted,
    });
    expect((await inWorkspace.teardown({})).success).toBe(true);
  });

  it("wipes the content with WipingTeardown and never archives the wiped workspace", async () => {
    const { inWorkspace } = clientsFor("ws-iws");
    const dir = d.daemon.manager.contentDir("ws-iws");
    await writeFile(path.join(dir, "precious.txt"), "x");
    expect((await inWorkspace.wipingTeardown({ doWipe: false })).success).toBe(true);
    expect(existsSync(path.join(dir, "precious.txt"))).toBe(true);
    expect((await inWorkspace.wipingTeardown({ doWipe: true })).success).toBe(true);
    expect(existsSync(path.join(dir, "precious.txt"))).toBe(false);
    const { content } = d.clients();
    expect(await content.backupWorkspace({ id: "ws-iws" }).catch(statusOf)).toMatchObject({
      code: Code.FailedPrecondition,
    });
  });

  it("removes the socket directory on dispose", async () => {
    const { content } = d.clients();
    await content.disposeWorkspace({ id: "ws-other" });
    expect(existsSync(d.daemon.sockets.socketDir("ws-other"))).toBe(false);
  });
});
