import { readdir, writeFile } from "node:fs/promises";
import {
  Code,
  createDaemonTransport,
  createInWorkspaceClients,
  type InWorkspaceClients,
  statusOf,
} from "@ws-daemon/api";
import type { StartedTestContainer } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
} from "./support/daemon-container.js";
import { iwsCli, iwsCliOk, startWorkspaceContainer } from "./support/workspace-container.js";
import { uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");

/** Settles every call and names the outcome: "OK" or the status code name. */
async function outcomes(calls: Promise<unknown>[]): Promise<string[]> {
  const settled = await Promise.allSettled(calls);
  return settled.map((s) => (s.status === "fulfilled" ? "OK" : statusOf(s.reason).codeName));
}

/**
 * Bad input and the per-workspace rate limits, over the real per-workspace socket: through the
 * CLI inside the workspace container, and (where timing matters) with the SDK from the host
 * through the same socket file, since the bind mount makes it reachable there too.
 */
describe.skipIf(inject("placeholderBundle"))("in-workspace API: bad input and rate limits", () => {
  const id = uniqueWorkspaceId("iws-limits");
  let area: string;
  let daemon: RunningDaemon;
  let workspace: StartedTestContainer;
  let viaSocket: InWorkspaceClients;

  beforeAll(async () => {
    area = await createWorkingArea();
    daemon = await startDaemon({ image, workingArea: area });
    await daemon.clients().content.initWorkspace({
      id,
      metadata: { owner: "e2e", metaId: "iws-limits" },
      initializer: {
        spec: {
          case: "download",
          value: { files: [], targetLocation: "" },
        },
      },
    });
    workspace = await startWorkspaceContainer({
      image,
      workspaceId: id,
      socketDir: daemon.socketDir(id),
    });
    viaSocket = createInWorkspaceClients(
      createDaemonTransport({ address: `unix://${daemon.socketPath(id)}` }),
    );
  });

  afterAll(async () => {
    await cleanUp(
      () => workspace?.stop(),
      () => disposeQuietly(daemon, [id]),
      () => daemon?.container.stop(),
      () => removeWorkingArea(area),
    );
  });

  it("rejects pids that are not valid or not the workspace's", async () => {
    const negative = await iwsCli(workspace, ["mount-proc", "--pid", "-5", "--target", "/proc"]);
    expect(negative.exitCode).toBe(67);
    expect(negative.stderr).toMatch(/^INVALID_ARGUMENT: pid -5 is not a valid pid/);

    const tooLarge = await iwsCli(workspace, ["setup-pair-veths", "--pid", "99999999"]);
    expect(tooLarge.exitCode).toBe(67);
    expect(tooLarge.stderr).toMatch(/^INVALID_ARGUMENT: /);

    // A valid pid number no process of this container has (container pids stay small).
    const foreign = await iwsCli(workspace, [
      "mount-sysfs",
      "--pid",
      "4000000",
      "--target",
      "/sys",
    ]);
    expect(foreign.exitCode).toBe(71);
    expect(foreign.stderr).toMatch(
      /^PERMISSION_DENIED: pid 4000000 is not a process of this workspace/,
    );
  });

  it("rejects mount targets that are relative, climb or are not directories", async () => {
    for (const target of ["proc", "/tmp/../proc", "/etc/hostname"]) {
      const result = await iwsCli(workspace, ["mount-proc", "--pid", "1", "--target", target]);
      expect(result.exitCode, target).toBe(67);
      expect(result.stderr, target).toMatch(/^INVALID_ARGUMENT: target path /);
    }
  });

  it("MountNfs validates its source and options; UmountNfs refuses a path that is no mount", async () => {
    const badSource = await iwsCli(workspace, [
      "mount-nfs",
      "--pid",
      "1",
      "--source",
      "no-colon-here",
      "--target",
      "/mnt",
    ]);
    expect(badSource.exitCode).toBe(67);
    expect(badSource.stderr).toMatch(/^INVALID_ARGUMENT: NFS source "no-colon-here"/);

    const badOption = await iwsCli(workspace, [
      "mount-nfs",
      "--pid",
      "1",
      "--source",
      "nfs.example:/export",
      "--target",
      "/mnt",
      "--args",
      "exec,suid",
    ]);
    expect(badOption.exitCode).toBe(67);
    expect(badOption.stderr).toMatch(/^INVALID_ARGUMENT: NFS option /);

    const notMounted = await iwsCli(workspace, ["umount-nfs", "--pid", "1", "--target", "/mnt"]);
    expect(notMounted.exitCode).toBe(73);
    expect(notMounted.stderr).toMatch(/^FAILED_PRECONDITION: \/mnt is not a mount point/);
  });

  it("answers command-line mistakes with exit code 2 and no call", async () => {
    for (const args of [
      ["write-id-mapping", "--pid", "1"],
      ["write-id-mapping", "--pid", "1", "--map", "0:100000"],
      ["no-such-command"],
      ["mount-proc", "--pid", "one", "--target", "/proc"],
    ]) {
      const result = await iwsCli(workspace, args);
      expect(result.exitCode, args.join(" ")).toBe(2);
      expect(result.stderr, args.join(" ")).toMatch(/^wsdctl: /);
    }
  });

  it("WriteIDMapping: bad ranges are INVALID_ARGUMENT, the fifth quick call RESOURCE_EXHAUSTED", async () => {
    const mapping = (hostId: number) => [{ containerId: 0, hostId, size: 1 }];
    // Burst of 4: every call takes a token before its input is judged.
    const results = await outcomes([
      viaSocket.inWorkspace.writeIDMapping({ pid: 1n, mapping: mapping(0) }), // host root
      viaSocket.inWorkspace.writeIDMapping({ pid: 1n, mapping: mapping(1000) }),
      viaSocket.inWorkspace.writeIDMapping({ pid: 1n, mapping: [] }),
      viaSocket.inWorkspace.writeIDMapping({ pid: -1n, mapping: mapping(100_000) }),
      viaSocket.inWorkspace.writeIDMapping({ pid: 1n, mapping: mapping(100_000) }),
    ]);
    expect(results.filter((r) => r === "RESOURCE_EXHAUSTED")).toHaveLength(1);
    expect(results.filter((r) => r === "INVALID_ARGUMENT").length).toBeGreaterThanOrEqual(3);
  });

  it("WorkspaceInfo: the fifth quick call is RESOURCE_EXHAUSTED", async () => {
    const results = await outcomes(
      Array.from({ length: 5 }, (_, i) =>
        i % 2 === 0
          ? viaSocket.workspaceInfo.workspaceInfo({})
          : viaSocket.inWorkspace.workspaceInfo({}),
      ),
    );
    expect(results.filter((r) => r === "OK")).toHaveLength(4);
    expect(results.filter((r) => r === "RESOURCE_EXHAUSTED")).toHaveLength(1);
  });

  it("PrepareForUserNS and EvacuateCGroup work only once per workspace", async () => {
    await iwsCli(workspace, ["prepare-for-userns"]);
    const again = await iwsCli(workspace, ["prepare-for-userns"]);
    expect(again.exitCode).toBe(72);
    expect(again.stderr).toMatch(/^RESOURCE_EXHAUSTED: PrepareForUserNS can be used only once/);

    await iwsCliOk(workspace, ["evacuate-cgroup"]);
    const error = await viaSocket.inWorkspace.evacuateCGroup({}).then(
      () => undefined,
      (e: unknown) => statusOf(e),
    );
    expect(error?.code).toBe(Code.ResourceExhausted);
  });

  it("WipingTeardown without wipe keeps the content; with wipe empties it", async () => {
    const content = daemon.contentDir(id);
    await writeFile(`${content}/keep-me.txt`, "x");
    expect(await iwsCliOk(workspace, ["wiping-teardown"])).toEqual({ success: true });
    expect(await readdir(content)).toContain("keep-me.txt");
    expect(await iwsCliOk(workspace, ["wiping-teardown", "--wipe"])).toEqual({ success: true });
    expect(await readdir(content).catch(() => [])).not.toContain("keep-me.txt");
  });
});
