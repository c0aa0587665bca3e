import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { readProcCgroup } from "../../src/platform/index.js";
import {
  DockerApiError,
  DockerRuntime,
  ProcessRuntime,
  WorkspaceContainerNotFound,
  withCallSignal,
} from "../../src/runtime/index.js";

let sleeper: ChildProcess;
beforeAll(() => {
  sleeper = spawn("sleep", ["3681"], { stdio: "ignore" });
});
afterAll(() => {
  sleeper.kill("SIGKILL");
});

describe("ProcessRuntime", () => {
  it("describes a registered root process from /proc", async () => {
    const rt = new ProcessRuntime();
    rt.register("ws-1", sleeper.pid as number);
    const c = await rt.findWorkspaceContainer("ws-1");
    expect(c.rootPid).toBe(sleeper.pid);
    expect(c.netnsPath).toBe(`/proc/${sleeper.pid}/ns/net`);
    // a child starts in its parent's cgroups
    const own = await readProcCgroup(process.pid);
    expect(c.cgroupPath).toBe(own.unified ?? "");
    expect(c.cgroupV1Paths).toEqual(own.v1);
  });

  it("has nothing to reach: readiness never fails on it", async () => {
    await expect(new ProcessRuntime().checkReachable()).resolves.toBeUndefined();
  });

  it("refuses host pid 1 and nonsense as roots", () => {
    const rt = new ProcessRuntime();
    for (const bad of [1, 0, -3, 1.5]) expect(() => rt.register("ws", bad)).toThrow(RangeError);
  });

  it("reports unknown workspaces and dead roots as not found", async () => {
    const rt = new ProcessRuntime();
    await expect(rt.findWorkspaceContainer("nope")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
    const short = spawn("true");
    await new Promise((r) => short.once("exit", r));
    rt.register("ws-dead", short.pid as number);
    await expect(rt.findWorkspaceContainer("ws-dead")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
    rt.register("ws-x", sleeper.pid as number);
    rt.unregister("ws-x");
    await expect(rt.findWorkspaceContainer("ws-x")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
  });
});

describe("DockerRuntime against a fake Engine API on a Unix socket", () => {
  let dir: string;
  let server: Server;
  let seen: IncomingMessage[] = [];
  let containers: Array<{ Id: string; Labels: Record<string, string> }>;
  let inspect: Record<string, unknown>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "wsd-docker-"));
    server = createServer((req, res) => {
      seen.push(req);
      const url = new URL(req.url ?? "/", "http://docker");
      if (url.pathname === "/_ping") {
        res.end("OK");
        return;
      }
      if (url.pathname.endsWith("/containers/json")) {
        const filters = JSON.parse(url.searchParams.get("filters") ?? "{}") as { label?: string[] };
        const wanted = filters.label?.[0] ?? "";
        const [k, v] = wanted.split("=");
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify(containers.filter((c) => c.Labels[k as string] === v)));
        return;
      }
      const m = /\/containers\/([^/]+)\/json$/.exec(url.pathname);
      if (m && inspect[m[1] as string]) {
        res.end(JSON.stringify(inspect[m[1] as string]));
      } else if (m) {
        res.statusCode = 404;
        res.end(JSON.stringify({ message: `No such container: ${m[1]}` }));
      } else {
        res.statusCode = 500;
        res.end("{}");
      }
    });
    await new Promise<void>((r) => server.listen(join(dir, "docker.sock"), r));
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    seen = [];
  });

  const runtime = (opts = {}) =>
    new DockerRuntime({ socketPath: join(dir, "docker.sock"), ...opts });

  it("finds the container by the default label and takes its init pid", async () => {
    containers = [
      { Id: "aaa", Labels: { "ws-daemon.workspace-id": "ws-1" } },
      { Id: "bbb", Labels: { "ws-daemon.workspace-id": "ws-2" } },
    ];
    inspect = { aaa: { Id: "aaa", State: { Running: true, Pid: sleeper.pid } } };
    const c = await runtime().findWorkspaceContainer("ws-1");
    expect(c).toMatchObject({ workspaceId: "ws-1", rootPid: sleeper.pid, containerId: "aaa" });
    expect(c.netnsPath).toBe(`/proc/${sleeper.pid}/ns/net`);
    const filters = JSON.parse(
      new URL(seen[0]?.url ?? "", "http://x").searchParams.get("filters") ?? "{}",
    );
    expect(filters).toEqual({ label: ["ws-daemon.workspace-id=ws-1"], status: ["running"] });
  });

  it("uses a configurable label and API version", async () => {
    containers = [{ Id: "ccc", Labels: { "example.com/ws": "ws-9" } }];
    inspect = { ccc: { Id: "ccc", State: { Running: true, Pid: sleeper.pid } } };
    const c = await runtime({
      labelKey: "example.com/ws",
      apiVersion: "v1.41",
    }).findWorkspaceContainer("ws-9");
    expect(c.containerId).toBe("ccc");
    expect(seen.every((r) => r.url?.startsWith("/v1.41/"))).toBe(true);
  });

  it("no matching container, a stopped one, or a vanished one is not found", async () => {
    containers = [{ Id: "ddd", Labels: { "ws-daemon.workspace-id": "ws-3" } }];
    inspect = { ddd: { Id: "ddd", State: { Running: false, Pid: 0 } } };
    await expect(runtime().findWorkspaceContainer("ws-none")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
    await expect(runtime().findWorkspaceContainer("ws-3")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
    inspect = {};
    await expect(runtime().findWorkspaceContainer("ws-3")).rejects.toBeInstanceOf(
      WorkspaceContainerNotFound,
    );
  });

  it("two containers with the same workspace label is an error, not a guess", async () => {
    containers = [
      { Id: "e1", Labels: { "ws-daemon.workspace-id": "ws-4" } },
      { Id: "e2", Labels: { "ws-daemon.workspace-id": "ws-4" } },
    ];
    await expect(runtime().findWorkspaceContainer("ws-4")).rejects.toBeInstanceOf(DockerApiError);
  });

  it("checkReachable pings the engine (plain text, not JSON)", async () => {
    await expect(runtime().checkReachable()).resolves.toBeUndefined();
    expect(seen.map((r) => r.url)).toEqual(["/_ping"]);
    const err = await new DockerRuntime({ socketPath: join(dir, "missing.sock") })
      .checkReachable()
      .catch((e) => e);
    expect(err).toBeInstanceOf(DockerApiError);
  });

  it("an unreachable engine is a DockerApiError naming the socket", async () => {
    const err = await new DockerRuntime({ socketPath: join(dir, "missing.sock") })
      .findWorkspaceContainer("ws")
      .catch((e) => e);
    expect(err).toBeInstanceOf(DockerApiError);
    expect(err.message).toMatch(/missing\.sock/);
  });

  it("waits for a container that starts after the call (issue 11), until the call's deadline", async () => {
    containers = [];
    inspect = {};
    const late = runtime({ waitForContainerMs: 30_000, pollIntervalMs: 20 }).findWorkspaceContainer(
      "ws-late",
    );
    setTimeout(() => {
      containers = [{ Id: "late", Labels: { "ws-daemon.workspace-id": "ws-late" } }];
      inspect = { late: { Id: "late", State: { Running: true, Pid: sleeper.pid } } };
    }, 150);
    expect(await late).toMatchObject({ containerId: "late", rootPid: sleeper.pid });
    expect(seen.filter((r) => r.url?.includes("/containers/json")).length).toBeGreaterThan(1);

    containers = [];
    const call = new AbortController();
    setTimeout(() => call.abort(new Error("deadline")), 100);
    const err = await withCallSignal(call.signal, () =>
      runtime({ waitForContainerMs: 30_000, pollIntervalMs: 20 }).findWorkspaceContainer(
        "ws-never",
      ),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkspaceContainerNotFound);
    expect((err as Error).message).toMatch(
      /no running container labelled .*ws-never \(waited \d+ ms\)/,
    );
  });
});
