/**
 * CriRuntime against a CRI v1 server of our own on a Unix socket: the lookups, the waiting and
 * how a misbehaving or absent runtime is reported. The real containerd is exercised by
 * test/server/cri-in-workspace.int.test.ts.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  ContainerState,
  type ContainerStatusResponse,
  PodSandboxState,
} from "../../src/gen/cri/runtime/v1/api_pb.js";
import {
  CriProtocolError,
  CriRuntime,
  CriUnavailableError,
  pidFromVerboseStatus,
  WorkspaceContainerNotFound,
  withCallSignal,
} from "../../src/runtime/index.js";
import { containerIn, FakeCriServer, readySandbox } from "./fake-cri-server.js";

const LABEL = "ws-daemon.io/workspace-id";
const {
  CONTAINER_RUNNING: RUNNING,
  CONTAINER_CREATED: CREATED,
  CONTAINER_EXITED: EXITED,
} = ContainerState;

let sleeper: ChildProcess;
let pid: number;
let cri: FakeCriServer;
const runtimes: CriRuntime[] = [];

beforeAll(async () => {
  sleeper = spawn("sleep", ["3683"], { stdio: "ignore" });
  pid = sleeper.pid as number;
  cri = await FakeCriServer.start();
});
afterAll(async () => {
  sleeper.kill("SIGKILL");
  await cri.stop();
});
beforeEach(() => {
  cri.sandboxes = [];
  cri.containers = [];
  cri.ignoreFilters = false;
  cri.requests.listPodSandbox.length = 0;
  cri.requests.listContainers.length = 0;
  cri.requests.containerStatus.length = 0;
});
afterEach(() => {
  for (const r of runtimes.splice(0)) r.close();
});

const runtime = (options: Partial<ConstructorParameters<typeof CriRuntime>[0]> = {}) => {
  const r = new CriRuntime({ socketPath: cri.socketPath, pollIntervalMs: 50, ...options });
  runtimes.push(r);
  return r;
};

const failure = (p: Promise<unknown>) => p.then(() => undefined).catch((e: unknown) => e);

describe("CriRuntime finds the workspace's container", () => {
  it("through the sandbox's pod label, the container's name and the verbose status", async () => {
    cri.sandboxes = [readySandbox("sb-1", { [LABEL]: "ws-1" }), readySandbox("sb-2", {})];
    cri.containers = [
      containerIn("sb-1", "c-side", "sidecar", RUNNING, 4242),
      containerIn("sb-1", "c-ws", "workspace", RUNNING, pid),
      containerIn("sb-2", "c-other", "workspace", RUNNING, 4243),
    ];
    const found = await runtime().findWorkspaceContainer("ws-1");
    expect(found).toMatchObject({ workspaceId: "ws-1", rootPid: pid, containerId: "c-ws" });
    expect(found.netnsPath).toBe(`/proc/${pid}/ns/net`);
    const [list] = cri.requests.listPodSandbox;
    expect(list?.filter?.labelSelector).toEqual({ [LABEL]: "ws-1" });
    expect(list?.filter?.state?.state).toBe(PodSandboxState.SANDBOX_READY);
    expect(cri.requests.listContainers[0]?.filter?.podSandboxId).toBe("sb-1");
    expect(cri.requests.containerStatus.map((r) => [r.containerId, r.verbose])).toEqual([
      ["c-ws", true],
    ]);
  });

  it("with the pod label and container name the config names", async () => {
    cri.sandboxes = [readySandbox("sb-1", { "example.com/ws": "ws-9" })];
    cri.containers = [
      containerIn("sb-1", "c-ws", "workspace", RUNNING, 4242),
      containerIn("sb-1", "c-ide", "ide", RUNNING, pid),
    ];
    const found = await runtime({
      podLabel: "example.com/ws",
      containerName: "ide",
    }).findWorkspaceContainer("ws-9");
    expect(found.containerId).toBe("c-ide");
  });

  it("never takes another workspace's pod, even from a runtime that ignores the filter", async () => {
    cri.ignoreFilters = true;
    cri.sandboxes = [readySandbox("sb-2", { [LABEL]: "ws-2" })];
    cri.containers = [containerIn("sb-2", "c-2", "workspace", RUNNING, pid)];
    const err = await failure(runtime({ maxWaitMs: 0 }).findWorkspaceContainer("ws-1"));
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect((err as Error).message).toBe(
      "workspace ws-1: no ready pod sandbox labelled ws-daemon.io/workspace-id=ws-1",
    );
  });

  it("refuses to guess between two ready pods of one workspace", async () => {
    cri.sandboxes = [
      readySandbox("sb-a", { [LABEL]: "ws-1" }, "a"),
      readySandbox("sb-b", { [LABEL]: "ws-1" }, "b"),
    ];
    const err = await failure(runtime().findWorkspaceContainer("ws-1"));
    expect(err).toBeInstanceOf(CriProtocolError);
    expect((err as CriProtocolError).kind).toBe("failed-precondition");
    expect((err as Error).message).toMatch(
      /2 ready pod sandboxes .* \(workspaces\/a, workspaces\/b\)/,
    );
  });

  it("names what is missing when it gives up: a created container, an exited one", async () => {
    cri.sandboxes = [readySandbox("sb-1", { [LABEL]: "ws-1" })];
    cri.containers = [
      containerIn("sb-1", "c-old", "workspace", EXITED, 0),
      containerIn("sb-1", "c-new", "workspace", CREATED, 0),
    ];
    const err = await failure(runtime({ maxWaitMs: 0 }).findWorkspaceContainer("ws-1"));
    expect((err as Error).message).toBe(
      'workspace ws-1: pod workspaces/pod-sb-1 has no running container "workspace" (CONTAINER_EXITED, CONTAINER_CREATED)',
    );
  });
});

describe("CriRuntime waits for a container that is not there yet", () => {
  it("until the pod and its container run", async () => {
    const started = Date.now();
    setTimeout(() => {
      cri.sandboxes = [readySandbox("sb-1", { [LABEL]: "ws-1" })];
      cri.containers = [containerIn("sb-1", "c-ws", "workspace", CREATED, 0)];
    }, 200);
    setTimeout(() => {
      cri.containers = [containerIn("sb-1", "c-ws", "workspace", RUNNING, pid)];
    }, 400);
    const found = await runtime({ maxWaitMs: 5_000 }).findWorkspaceContainer("ws-1");
    expect(found.containerId).toBe("c-ws");
    expect(Date.now() - started).toBeGreaterThanOrEqual(390);
    expect(cri.requests.listPodSandbox.length).toBeGreaterThan(2);
  });

  it("while the running container's task has no pid yet", async () => {
    cri.sandboxes = [readySandbox("sb-1", { [LABEL]: "ws-1" })];
    cri.containers = [containerIn("sb-1", "c-ws", "workspace", RUNNING, 0)];
    setTimeout(() => {
      cri.containers = [containerIn("sb-1", "c-ws", "workspace", RUNNING, pid)];
    }, 200);
    expect((await runtime().findWorkspaceContainer("ws-1")).rootPid).toBe(pid);
  });

  it("no longer than the caller's signal", async () => {
    const started = Date.now();
    const err = await failure(
      runtime({ maxWaitMs: 30_000 }).findWorkspaceContainer("ws-1", AbortSignal.timeout(300)),
    );
    const took = Date.now() - started;
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect((err as Error).message).toMatch(
      /^workspace ws-1: no ready pod sandbox labelled ws-daemon.io\/workspace-id=ws-1 \(waited \d+ ms\)$/,
    );
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(3_000);
  });

  it("no longer than the current call's deadline, found through the call scope", async () => {
    const started = Date.now();
    const err = await failure(
      withCallSignal(AbortSignal.timeout(250), () =>
        runtime({ maxWaitMs: 30_000 }).findWorkspaceContainer("ws-1"),
      ),
    );
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("no longer than maxWaitMs when nobody sets a deadline", async () => {
    const started = Date.now();
    const err = await failure(runtime({ maxWaitMs: 300 }).findWorkspaceContainer("ws-1"));
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});

describe("CriRuntime reports a runtime it cannot use", () => {
  it("a socket nobody listens on is UNAVAILABLE naming the socket, without waiting", async () => {
    const missing = join(cri.dir, "missing.sock");
    const r = runtime({ socketPath: missing, maxWaitMs: 30_000 });
    const started = Date.now();
    const err = await failure(r.findWorkspaceContainer("ws-1"));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(err).toBeInstanceOf(CriUnavailableError);
    expect((err as CriUnavailableError).kind).toBe("unavailable");
    expect((err as Error).message).toBe(
      `container runtime unreachable at ${missing} (ENOENT) during ListPodSandbox`,
    );
    expect(await failure(r.checkReachable())).toBeInstanceOf(CriUnavailableError);
  });

  it("a server that does not serve runtime.v1 is UNAVAILABLE, saying so", async () => {
    const other = await FakeCriServer.start({ withRuntimeService: false });
    const r = runtime({ socketPath: other.socketPath });
    try {
      const err = await failure(r.checkReachable());
      expect(err).toBeInstanceOf(CriUnavailableError);
      expect((err as Error).message).toMatch(
        /does not serve CRI v1 \(runtime\.v1\.RuntimeService\/Version/,
      );
    } finally {
      // The server's close waits for the client's HTTP/2 connection to end.
      r.close();
      await other.stop();
    }
  });

  it("answers Version when it serves CRI v1", async () => {
    await expect(runtime().checkReachable()).resolves.toBeUndefined();
  });

  it("a verbose status without a pid is a protocol error, not a wait", async () => {
    cri.sandboxes = [readySandbox("sb-1", { [LABEL]: "ws-1" })];
    cri.containers = [containerIn("sb-1", "c-ws", "workspace", RUNNING, undefined)];
    const err = await failure(runtime().findWorkspaceContainer("ws-1"));
    expect(err).toBeInstanceOf(CriProtocolError);
    expect((err as Error).message).toMatch(/carries no info\["info"\]/);
  });
});

describe("pidFromVerboseStatus", () => {
  const status = (info: Record<string, string>) => ({ info }) as unknown as ContainerStatusResponse;

  it("reads containerd's and CRI-O's info document", () => {
    expect(pidFromVerboseStatus(status({ info: '{"sandboxID":"s","pid":1234}' }), "c")).toBe(1234);
    expect(pidFromVerboseStatus(status({ info: '{"pid":0}' }), "c")).toBe(0);
  });

  it("refuses what is not a pid", () => {
    for (const info of ["not json", '{"pid":"12"}', '{"pid":-1}', '{"pid":1.5}', "{}", "null"]) {
      expect(() => pidFromVerboseStatus(status({ info }), "c"), info).toThrow(CriProtocolError);
    }
  });
});
