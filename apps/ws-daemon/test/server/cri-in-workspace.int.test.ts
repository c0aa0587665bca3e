/**
 * The daemon on a "Kubernetes node" without kubelet: a real containerd 1.6 with its CRI plugin
 * (scripts/cri/ensure-containerd.sh, the steps of docs/kubernetes.md), a pod created the way
 * kubelet creates deploy/kubernetes/examples/workspace-pod.yaml (RunPodSandbox with the pod's
 * labels, CreateContainer with the /.workspace mount, StartContainer) through the daemon's own
 * CRI client, and the daemon with `runtime.kind: cri` serving that pod's in-workspace API.
 * The sequence is the one of the e2e suite (apps/ws-daemon-e2e/src/in-workspace-sequence.test.ts),
 * driven through the workspace's socket; the container's side is entered with nsenter.
 * Nothing is mocked.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import {
  Code,
  createDaemonTransport,
  createInWorkspaceClients,
  FSShiftMethod,
  HealthCheckResponse_ServingStatus as ServingStatus,
  statusOf,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childPids, readNsPids } from "../../src/platform/index.js";
import { type CriConnection, connectCri } from "../../src/runtime/index.js";
import { ensureHelperBuilt } from "../linux/support/helper-binary.js";
import { podFromExample, runWorkspacePod, type WorkspacePod } from "../support/cri-pods.js";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { CRI_IMAGES, ensurePrivateContainerd } from "../support/private-containerd.js";

const run = promisify(execFile);
const containerd = await ensurePrivateContainerd();
if ("skip" in containerd) console.warn(`[CRI in-workspace tests] skipped: ${containerd.skip}`);

const MEMORY_LIMIT = 256 * 1024 * 1024;
const WAIT_FOR_CONTAINER_MS = 4_000;
/** The daemon's default veth network: the container side gets .1, the inner side .2. */
const CONTAINER_SIDE_IP = "10.0.5.1";
const INNER_SIDE_IP = "10.0.5.2";
/**
 * The workspace container's init: a shell (so its comm tells it apart) that starts a child in
 * new user, mount, pid and network namespaces, as a nested container runtime would.
 */
const WORKSPACE_INIT = "unshare -U -m -p -n -f sleep 3625 & wait";

describe.skipIf("skip" in containerd)("in-workspace API of a pod found through CRI", () => {
  const id = `ws-cri-${process.pid}`;
  const empty = { spec: { case: "empty" as const, value: {} } };
  let d: TestDaemon;
  let cri: CriConnection;
  let pod: WorkspacePod | undefined;
  let logRoot: string;
  /** Host pids of the container's init and of the inner process. */
  let rootPid: number;
  let innerHostPid: number;
  /** The inner process's pid as the workspace container sees it (what the API takes). */
  let innerPid: bigint;
  /** The container's init gets a pending call that must wait for it. */
  let pendingInfo: Promise<unknown>;
  let pendingStartedAt: number;
  let startedAt: number;

  const clients = () =>
    createInWorkspaceClients(
      createDaemonTransport({ address: `unix://${d.daemon.sockets.socketPath(id)}` }),
    );
  /** A command in the given namespaces of a process (binaries from its mount namespace). */
  const nsenter = async (pid: number, flags: string[], cmd: string) =>
    (await run("nsenter", ["-t", String(pid), ...flags, "sh", "-c", cmd])).stdout;
  const inInner = (cmd: string) => nsenter(innerHostPid, ["-U", "-m", "-p", "-n"], cmd);

  beforeAll(async () => {
    if ("skip" in containerd) return;
    cri = connectCri({ socketPath: containerd.socketPath });
    logRoot = await mkdtemp(path.join(tmpdir(), "wsd-cri-logs-"));
    d = await startTestDaemon({
      runtime: {
        kind: "cri",
        socketPath: containerd.socketPath,
        waitForContainerMs: WAIT_FOR_CONTAINER_MS,
      },
      linux: { nsHelperPath: ensureHelperBuilt(), vethCidr: "10.0.5.0/30" },
    });
    await d.clients().content.initWorkspace({
      id,
      metadata: { owner: "o", metaId: "m" },
      initializer: empty,
    });
    pod = await runWorkspacePod(
      cri.client,
      podFromExample({
        workspaceId: id,
        workingArea: path.join(d.dir, "workspaces"),
        image: CRI_IMAGES.workspace,
        command: ["/bin/sh", "-c", WORKSPACE_INIT],
        logRoot,
        memoryLimitBytes: MEMORY_LIMIT,
      }),
    );
    await pod.createContainer();
  });

  afterAll(async () => {
    await pod?.remove();
    cri?.close();
    await d?.stop();
    if (logRoot) await rm(logRoot, { recursive: true, force: true });
  });

  it("the daemon is ready: the runtime answers on its socket", async () => {
    const { health } = d.clients();
    expect((await health.check({ service: "" })).status).toBe(ServingStatus.SERVING);
    const version = await cri.client.version({ version: "v1" });
    expect(version).toMatchObject({ runtimeName: "containerd", runtimeApiVersion: "v1" });
  });

  it("a call while the container is created but not started gives up at its deadline", async () => {
    const { workspaceInfo } = clients();
    pendingStartedAt = Date.now();
    // This one waits for the container (started in the next test).
    pendingInfo = workspaceInfo.workspaceInfo({}, { timeoutMs: 20_000 });
    pendingInfo.catch(() => undefined);
    const started = Date.now();
    const err = await workspaceInfo.workspaceInfo({}, { timeoutMs: 700 }).catch(statusOf);
    expect(err).toMatchObject({ code: Code.DeadlineExceeded });
    expect(Date.now() - started).toBeLessThan(WAIT_FOR_CONTAINER_MS);
    // The daemon stopped waiting at the deadline too (not at waitForContainerMs, nor when the
    // container came): its call ended, unanswered, after about the deadline.
    let ended: Record<string, unknown> | undefined;
    for (let i = 0; i < 40 && !ended; i++) {
      // the call's closing line carries its code (the "in-workspace caller" line of the same
      // call, issue 10, carries the method but no code)
      ended = d.logs.find(
        (l) =>
          String(l.method).endsWith("/WorkspaceInfo") && l.code !== undefined && l.code !== "OK",
      );
      if (!ended) await new Promise((r) => setTimeout(r, 50));
    }
    expect(ended).toMatchObject({
      workspaceId: id,
      code: expect.stringMatching(/^(NOT_FOUND|DEADLINE_EXCEEDED)$/),
    });
    // It waited (an unknown container used to be NOT_FOUND within milliseconds); how close to
    // 700 ms its own clock gets depends on when the request and the client's cancel arrived (627
    // ms seen on a loaded machine), so only "it waited most of the deadline" is asserted.
    expect(Number(ended?.durationMs)).toBeGreaterThanOrEqual(350);
    expect(Number(ended?.durationMs)).toBeLessThan(1_500);
  });

  it("a call made before the container runs is answered once it runs", async () => {
    if (!pod) throw new Error("no pod");
    await new Promise((r) => setTimeout(r, 300));
    startedAt = Date.now();
    await pod.startContainer();
    const info = (await pendingInfo) as { resources?: { memory?: { limit: bigint } } };
    expect(startedAt - pendingStartedAt).toBeGreaterThanOrEqual(900);
    expect(info.resources?.memory?.limit).toBe(BigInt(MEMORY_LIMIT));
  });

  it("finds the container's init as the workspace's root, and the inner process below it", async () => {
    const container = await d.daemon.runtime.findWorkspaceContainer(id);
    rootPid = container.rootPid;
    expect((await readFile(`/proc/${rootPid}/comm`, "utf8")).trim()).toBe("sh");
    expect(container.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(container.cgroupV1Paths.memory ?? container.cgroupPath).toContain(container.containerId);
    // unshare forks the sleeper into the new pid namespace: the init's grandchild.
    for (let i = 0; i < 50 && !innerHostPid; i++) {
      for (const child of await childPids(rootPid)) {
        const [grandchild] = await childPids(child);
        if (grandchild) innerHostPid = grandchild;
      }
      if (!innerHostPid) await new Promise((r) => setTimeout(r, 100));
    }
    const nsPids = await readNsPids(innerHostPid);
    // host pid, pid in the workspace container, pid 1 of the inner namespace
    expect(nsPids).toHaveLength(3);
    expect(nsPids?.[2]).toBe(1);
    innerPid = BigInt(nsPids?.[1] ?? 0);
    expect(existsSync(path.join(d.daemon.sockets.socketDir(id), "daemon.sock"))).toBe(true);
    // The container sees the daemon's socket where the pod mounts it.
    expect(await nsenter(rootPid, ["-m"], "ls /.workspace")).toBe("daemon.sock\n");
  });

  it("PrepareForUserNS names the filesystem shift method (or why none is available)", async () => {
    const result = await clients()
      .inWorkspace.prepareForUserNS({})
      .catch((e: unknown) => statusOf(e));
    if ("fsShift" in result) {
      expect(result.fsShift).toBe(FSShiftMethod.IDMAPPED);
      return;
    }
    // The container's root is an overlayfs from containerd's snapshotter; kernels that refuse
    // ID-mapped mounts of it leave no method (shiftfs is gone), and the daemon says so, as in
    // the e2e suite's Docker containers.
    console.warn(`PrepareForUserNS found no shift method on this machine: ${result.message}`);
    expect(result).toMatchObject({
      code: Code.FailedPrecondition,
      message: expect.stringMatching(/^no FS shift method available: /),
    });
  });

  it("WriteIDMapping maps the inner user namespace's root to the allowed host range", async () => {
    const { inWorkspace } = clients();
    const mapping = [{ containerId: 0, hostId: 100000, size: 65536 }];
    expect(await inWorkspace.writeIDMapping({ pid: innerPid, gid: false, mapping })).toMatchObject({
      message: "",
      errorCode: 0,
    });
    await inWorkspace.writeIDMapping({ pid: innerPid, gid: true, mapping });
    for (const file of ["uid_map", "gid_map"]) {
      const text = await readFile(`/proc/${innerHostPid}/${file}`, "utf8");
      expect(text.trim().split(/\s+/)).toEqual(["0", "100000", "65536"]);
    }
    expect((await inInner("id -u; id -g")).trim().split("\n")).toEqual(["0", "0"]);
  });

  it("refuses pids outside the workspace's container", async () => {
    const { inWorkspace } = clients();
    const outside = await inWorkspace
      .mountProc({ pid: BigInt(process.pid), target: "/proc" })
      .catch(statusOf);
    expect(outside).toMatchObject({ code: Code.PermissionDenied });
  });

  it("MountProc gives the inner pid namespace its own proc", async () => {
    await clients().inWorkspace.mountProc({ pid: innerPid, target: "/proc" });
    expect((await inInner("cat /proc/1/comm")).trim()).toBe("sleep");
    expect((await inInner("cat /proc/kcore | wc -c")).trim()).toBe("0");
  });

  it("SetupPairVeths connects the inner network namespace with the container's", async () => {
    await clients().inWorkspace.setupPairVeths({ pid: innerPid });
    expect(await inInner("ip -4 -o addr show")).toContain(`${INNER_SIDE_IP}/30`);
    const ping = await nsenter(rootPid, ["-n", "-m"], `ping -c 1 -W 5 ${INNER_SIDE_IP}`);
    expect(ping).toMatch(/1 packets received/);
  });

  it("MountSysfs shows the inner network namespace's interfaces; UmountSysfs removes it", async () => {
    const names = (text: string) => text.trim().split(/\s+/).sort();
    const innerLinks = names(await inInner("ip -o link show | cut -d: -f2 | cut -d@ -f1"));
    const containerSysfs = names(await nsenter(rootPid, ["-m"], "ls /sys/class/net"));
    expect(innerLinks).not.toEqual(containerSysfs);
    const { inWorkspace } = clients();
    await inWorkspace.mountSysfs({ pid: innerPid, target: "/sys" });
    expect(names(await inInner("ls /sys/class/net"))).toEqual(innerLinks);
    await inWorkspace.umountSysfs({ pid: innerPid, target: "/sys" });
    expect(names(await inInner("ls /sys/class/net"))).toEqual(containerSysfs);
  });

  it("EvacuateCGroup succeeds once", async () => {
    expect(await clients().inWorkspace.evacuateCGroup({})).toMatchObject({});
  });

  it("WorkspaceInfo reports the pod's memory limit through both services", async () => {
    const { inWorkspace, workspaceInfo } = clients();
    for (const client of [inWorkspace, workspaceInfo]) {
      const info = await client.workspaceInfo({});
      expect(info.resources?.memory?.limit).toBe(BigInt(MEMORY_LIMIT));
      expect(info.resources?.memory?.used).toBeGreaterThan(0n);
    }
  });

  it("UmountProc restores the container's proc", async () => {
    await clients().inWorkspace.umountProc({ pid: innerPid, target: "/proc" });
    expect((await inInner("cat /proc/1/comm")).trim()).toBe("sh");
  });

  it("Teardown undoes what is left (the veth pair) and is allowed once", async () => {
    const { inWorkspace } = clients();
    expect(await inWorkspace.teardown({})).toMatchObject({ success: true });
    expect(await nsenter(rootPid, ["-n", "-m"], "ip -4 -o addr show")).not.toContain(
      CONTAINER_SIDE_IP,
    );
    expect(await inWorkspace.teardown({}).catch(statusOf)).toMatchObject({
      code: Code.ResourceExhausted,
    });
  });

  it("a workspace without a pod is NOT_FOUND, naming the label, after the configured wait", async () => {
    const other = `${id}-nopod`;
    await d.clients().content.initWorkspace({
      id: other,
      metadata: { owner: "o", metaId: "m2" },
      initializer: empty,
    });
    const { workspaceInfo } = createInWorkspaceClients(
      createDaemonTransport({ address: `unix://${d.daemon.sockets.socketPath(other)}` }),
    );
    const started = Date.now();
    const err = await workspaceInfo.workspaceInfo({}).catch(statusOf);
    expect(err).toMatchObject({
      code: Code.NotFound,
      message: expect.stringMatching(
        new RegExp(
          `^workspace ${other}: no ready pod sandbox labelled ws-daemon\\.io/workspace-id=${other} \\(waited \\d+ ms\\)$`,
        ),
      ),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(WAIT_FOR_CONTAINER_MS - 100);
    await d.clients().content.disposeWorkspace({ id: other });
  });

  it("after the pod is deleted, the workspace's container is gone", async () => {
    await pod?.remove();
    pod = undefined;
    const err = await d.daemon.runtime
      .findWorkspaceContainer(id, AbortSignal.timeout(300))
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/no ready pod sandbox labelled/);
  });
});
