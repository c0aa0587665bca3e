import { mkdtemp, rm } from "node:fs/promises";
import * as http2 from "node:http2";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  type Container,
  ContainerSchema,
  type ContainerState,
  type ContainerStatusRequest,
  type ListContainersRequest,
  type ListPodSandboxRequest,
  type PodSandbox,
  PodSandboxSchema,
  PodSandboxState,
  RuntimeService,
} from "../../src/gen/cri/runtime/v1/api_pb.js";

/** A container the fake runtime knows, with what its verbose status reports. */
export interface FakeContainer {
  container: MessageInitShape<typeof ContainerSchema>;
  /** info["info"] of the verbose status; undefined leaves the key out. */
  info?: string;
}

/**
 * A CRI v1 RuntimeService on a Unix socket, serving whatever the test puts into `sandboxes`
 * and `containers`, and recording every request. It answers like containerd (filters applied
 * unless `ignoreFilters`), so the client's own checks can be exercised with a runtime that
 * misbehaves. Unit tests use it for the edge cases; the real containerd is in the int tests.
 */
export class FakeCriServer {
  sandboxes: Array<MessageInitShape<typeof PodSandboxSchema>> = [];
  containers: FakeContainer[] = [];
  ignoreFilters = false;
  readonly requests: {
    listPodSandbox: ListPodSandboxRequest[];
    listContainers: ListContainersRequest[];
    containerStatus: ContainerStatusRequest[];
  } = { listPodSandbox: [], listContainers: [], containerStatus: [] };

  private constructor(
    readonly dir: string,
    readonly socketPath: string,
    private readonly server: http2.Http2Server,
  ) {}

  static async start(
    options: { withRuntimeService?: boolean; socketPath?: string } = {},
  ): Promise<FakeCriServer> {
    const dir = await mkdtemp(path.join(tmpdir(), "wsd-fake-cri-"));
    const socketPath = options.socketPath ?? path.join(dir, "cri.sock");
    let self: FakeCriServer | undefined;
    const routes = (router: ConnectRouter) => {
      if (options.withRuntimeService === false) return;
      router.service(RuntimeService, {
        version: () => ({
          version: "0.1.0",
          runtimeName: "fake",
          runtimeVersion: "1",
          runtimeApiVersion: "v1",
        }),
        listPodSandbox: (req) => self?.listPodSandbox(req) ?? { items: [] },
        listContainers: (req) => self?.listContainers(req) ?? { containers: [] },
        containerStatus: (req) => {
          if (!self) throw new ConnectError("not started", Code.Unavailable);
          return self.containerStatus(req);
        },
      });
    };
    const server = http2.createServer(connectNodeAdapter({ routes }));
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    self = new FakeCriServer(dir, socketPath, server);
    return self;
  }

  /** Close the clients first: the server's close waits for their HTTP/2 connections. */
  async stop(): Promise<void> {
    await new Promise((resolve) => this.server.close(resolve));
    await rm(this.socketPath, { force: true });
    await rm(this.dir, { recursive: true, force: true });
  }

  private listPodSandbox(req: ListPodSandboxRequest) {
    this.requests.listPodSandbox.push(req);
    const all = this.sandboxes.map((s) => create(PodSandboxSchema, s));
    const f = req.filter;
    const items = all.filter(
      (s: PodSandbox) =>
        this.ignoreFilters ||
        !f ||
        ((!f.state || s.state === f.state.state) &&
          Object.entries(f.labelSelector).every(([k, v]) => s.labels[k] === v)),
    );
    return { items };
  }

  private listContainers(req: ListContainersRequest) {
    this.requests.listContainers.push(req);
    const all = this.containers.map((c) => create(ContainerSchema, c.container));
    const f = req.filter;
    const containers = all.filter(
      (c: Container) => this.ignoreFilters || !f?.podSandboxId || c.podSandboxId === f.podSandboxId,
    );
    return { containers };
  }

  private containerStatus(req: ContainerStatusRequest) {
    this.requests.containerStatus.push(req);
    const found = this.containers.find((c) => c.container.id === req.containerId);
    if (!found) throw new ConnectError(`container ${req.containerId} not found`, Code.NotFound);
    const c = create(ContainerSchema, found.container);
    return {
      status: { id: c.id, metadata: c.metadata, state: c.state, labels: c.labels },
      info: req.verbose && found.info !== undefined ? { info: found.info } : {},
    };
  }
}

/** A ready sandbox labelled for a workspace, as kubelet would have created it. */
export const readySandbox = (
  id: string,
  labels: Record<string, string>,
  name = `pod-${id}`,
): MessageInitShape<typeof PodSandboxSchema> => ({
  id,
  metadata: { name, namespace: "workspaces", uid: `uid-${id}`, attempt: 0 },
  state: PodSandboxState.SANDBOX_READY,
  labels,
});

export const containerIn = (
  sandboxId: string,
  id: string,
  name: string,
  state: ContainerState,
  pid: number | undefined,
): FakeContainer => ({
  container: { id, podSandboxId: sandboxId, metadata: { name, attempt: 0 }, state },
  ...(pid === undefined ? {} : { info: JSON.stringify({ sandboxID: sandboxId, pid }) }),
});
