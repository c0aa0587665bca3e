import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Message } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CloneTargetMode,
  FSShiftMethod,
  GitAuthMethod,
  Health,
  type InitWorkspaceRequest,
  InWorkspaceService,
  HealthCheckResponse_ServingStatus as ServingStatus,
  WorkspaceContentService,
  WorkspaceInfoService,
  type WriteIDMappingRequest,
} from "../src/index.js";
import { startTestServer, type TestServer } from "./support/test-server.js";

/**
 * An independent implementation checks our wire format: @grpc/grpc-js with descriptors that
 * @grpc/proto-loader reads straight from the .proto files, talking to a connect-node server
 * built from the descriptors protoc-gen-es generated from the same files.
 */
const protoRoot = join(dirname(fileURLToPath(import.meta.url)), "../../../proto");

const packageDefinition = protoLoader.loadSync(
  ["wsdaemon/daemon.proto", "iws/workspace_daemon.proto", "grpc/health/v1/health.proto"],
  {
    includeDirs: [protoRoot],
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  },
);
// biome-ignore lint/suspicious/noExplicitAny: grpc-js builds its client classes at run time.
const loaded = grpc.loadPackageDefinition(packageDefinition) as any;
type ClientClass = new (target: string, credentials: grpc.ChannelCredentials) => grpc.Client;
const clientClasses: Record<string, ClientClass> = {
  content: loaded.wsdaemon.WorkspaceContentService,
  inWorkspace: loaded.iws.InWorkspaceService,
  workspaceInfo: loaded.iws.WorkspaceInfoService,
  health: loaded.grpc.health.v1.Health,
};

/** What the connect-node server received, to compare field by field. */
const received: { init: InitWorkspaceRequest[]; idMappings: WriteIDMappingRequest[] } = {
  init: [],
  idMappings: [],
};

const routes = (router: ConnectRouter) => {
  router.service(WorkspaceContentService, {
    initWorkspace(req) {
      received.init.push(req);
      return {};
    },
    waitForInit(req) {
      // "%" and non-ASCII must survive the percent-encoding of grpc-message.
      throw new ConnectError(`workspace ${req.id} is 100% üñknown`, Code.NotFound, {
        "x-wsd-reason": "unknown-id",
      });
    },
    getWorkspaceState(req) {
      throw new ConnectError(`workspace ${req.id}: state unknown`, Code.FailedPrecondition);
    },
    disposeWorkspace() {
      return {
        gitStatus: {
          branch: "main",
          latestCommit: "0123456789abcdef0123456789abcdef01234567",
          uncommittedFiles: ["a.txt", "dir/b.txt"],
          totalUncommittedFiles: 9_007_199_254_740_993n,
        },
      };
    },
  });
  router.service(InWorkspaceService, {
    prepareForUserNS() {
      return { fsShift: FSShiftMethod.IDMAPPED, persistentVolumeClaim: true };
    },
    writeIDMapping(req) {
      received.idMappings.push(req);
      if (req.mapping.length === 0) {
        throw new ConnectError("at least one mapping is required", Code.InvalidArgument);
      }
      return { message: `wrote ${req.gid ? "gid_map" : "uid_map"}`, errorCode: 0 };
    },
  });
  router.service(WorkspaceInfoService, {
    workspaceInfo() {
      return {
        resources: {
          cpu: { used: 250n, limit: 4000n },
          memory: { used: 1n << 33n, limit: 1n << 34n },
        },
      };
    },
  });
  router.service(Health, {
    check(req) {
      if (req.service === "no.such.Service") {
        throw new ConnectError("unknown service no.such.Service", Code.NotFound);
      }
      return { status: ServingStatus.SERVING };
    },
    async *watch() {
      yield { status: ServingStatus.SERVING };
      yield { status: ServingStatus.NOT_SERVING };
    },
  });
};

/** Calls a unary method by its name in the .proto, the way grpc-js attaches it to the client. */
function unary<T>(client: grpc.Client, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    // biome-ignore lint/suspicious/noExplicitAny: methods are attached to the client at run time.
    (client as any)[method](request, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

async function statusError(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (e) {
    return e as grpc.ServiceError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}

let socketDir: string;
const servers: Record<"tcp" | "unix", TestServer> = {} as never;

beforeAll(async () => {
  socketDir = await mkdtemp(join(tmpdir(), "wsd-api-grpcjs-"));
  servers.tcp = await startTestServer(routes);
  servers.unix = await startTestServer(routes, { socketPath: join(socketDir, "daemon.sock") });
});

afterAll(async () => {
  await Promise.all(Object.values(servers).map((s) => s.close()));
  if (socketDir) await rm(socketDir, { recursive: true, force: true });
});

describe.each(["tcp", "unix"] as const)("a @grpc/grpc-js client over %s", (kind) => {
  const clients: Record<string, grpc.Client> = {};
  beforeAll(() => {
    const target = servers[kind].grpcTarget;
    expect(target).toMatch(kind === "unix" ? /^unix:\/\/\// : /^127\.0\.0\.1:\d+$/);
    for (const [name, Client] of Object.entries(clientClasses)) {
      clients[name] = new Client(target, grpc.credentials.createInsecure());
    }
  });
  afterAll(() => {
    for (const c of Object.values(clients)) c.close();
  });
  const client = (name: string) => clients[name] as grpc.Client;

  it("sends InitWorkspace with a git initializer intact (wsdaemon.WorkspaceContentService)", async () => {
    const id = `ws-interop-${kind}`;
    await unary(client("content"), "InitWorkspace", {
      id,
      metadata: { owner: "owner-1", metaId: "meta-1" },
      initializer: {
        git: {
          remoteUri: "https://example.com/org/repo.git",
          upstreamRemoteUri: "https://example.com/upstream/repo.git",
          targetMode: "REMOTE_BRANCH",
          cloneTarget: "feature/ü",
          checkoutLocation: "repo",
          fullClone: true,
          config: {
            customConfig: { "core.autocrlf": "false", "user.name": "Ada" },
            authentication: "BASIC_AUTH",
            authUser: "ada",
            authPassword: "s3cr3t",
          },
        },
      },
      remoteStorageDisabled: true,
      storageQuotaBytes: "10737418240",
    });
    const req = received.init.find((r) => r.id === id);
    expect(req).toBeDefined();
    expect(req?.metadata).toMatchObject({ owner: "owner-1", metaId: "meta-1" });
    expect(req?.remoteStorageDisabled).toBe(true);
    expect(req?.storageQuotaBytes).toBe(10_737_418_240n);
    const spec = req?.initializer?.spec;
    expect(spec?.case).toBe("git");
    const git = spec?.case === "git" ? spec.value : undefined;
    expect(git).toMatchObject({
      remoteUri: "https://example.com/org/repo.git",
      upstreamRemoteUri: "https://example.com/upstream/repo.git",
      targetMode: CloneTargetMode.REMOTE_BRANCH,
      cloneTarget: "feature/ü",
      checkoutLocation: "repo",
      fullClone: true,
    });
    expect(git?.config?.customConfig).toEqual({ "core.autocrlf": "false", "user.name": "Ada" });
    expect(git?.config).toMatchObject({
      authentication: GitAuthMethod.BASIC_AUTH,
      authUser: "ada",
      authPassword: "s3cr3t",
    });
  });

  it("decodes a DisposeWorkspace response with a git status", async () => {
    const res = await unary<{ gitStatus: Record<string, unknown> }>(
      client("content"),
      "DisposeWorkspace",
      { id: "ws-1", backup: true },
    );
    expect(res.gitStatus).toMatchObject({
      branch: "main",
      latestCommit: "0123456789abcdef0123456789abcdef01234567",
      uncommittedFiles: ["a.txt", "dir/b.txt"],
      // Beyond 2^53: only an exact 64-bit encoding keeps the last digit.
      totalUncommittedFiles: "9007199254740993",
      totalUntrackedFiles: "0",
    });
  });

  it("receives NOT_FOUND with its message and metadata", async () => {
    const err = await statusError(unary(client("content"), "WaitForInit", { id: "ws-gone" }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.code).toBe(5);
    expect(err.details).toBe("workspace ws-gone is 100% üñknown");
    expect(err.metadata.get("x-wsd-reason")).toEqual(["unknown-id"]);
  });

  it("receives FAILED_PRECONDITION; a ':' in the message arrives percent-encoded", async () => {
    const err = await statusError(unary(client("content"), "GetWorkspaceState", { id: "ws-2" }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    // connect encodes grpc-message with encodeURIComponent (legal: receivers must decode any
    // %XX), but grpc-js decodes it with decodeURI, which keeps reserved characters such as
    // ":" escaped. Messages of the daemon reach grpc-js clients this way.
    expect(err.details).toBe("workspace ws-2%3A state unknown");
  });

  it("receives UNIMPLEMENTED for a method the server does not implement", async () => {
    const err = await statusError(unary(client("content"), "TakeSnapshot", { id: "ws-1" }));
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toMatch(/TakeSnapshot/);
  });

  it("sends WriteIDMapping with its mappings intact (iws.InWorkspaceService)", async () => {
    const pid = String(2 ** 40 + 7);
    const res = await unary<{ message: string; errorCode: number }>(
      client("inWorkspace"),
      "WriteIDMapping",
      {
        pid,
        gid: true,
        mapping: [
          { containerId: 0, hostId: 33333, size: 1 },
          { containerId: 1, hostId: 100000, size: 65534 },
          { containerId: 4294967295, hostId: 4294967294, size: 1 },
        ],
      },
    );
    expect(res).toEqual({ message: "wrote gid_map", errorCode: 0 });
    const req = received.idMappings.find((r) => r.pid === BigInt(pid));
    expect(req?.gid).toBe(true);
    expect(
      req?.mapping.map(({ containerId, hostId, size }) => ({ containerId, hostId, size })),
    ).toEqual([
      { containerId: 0, hostId: 33333, size: 1 },
      { containerId: 1, hostId: 100000, size: 65534 },
      { containerId: 4294967295, hostId: 4294967294, size: 1 },
    ]);

    const err = await statusError(unary(client("inWorkspace"), "WriteIDMapping", { pid: "1" }));
    expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err.details).toBe("at least one mapping is required");
  });

  it("decodes enums of PrepareForUserNS, including an extension value", async () => {
    const res = await unary(client("inWorkspace"), "PrepareForUserNS", {});
    expect(res).toEqual({ fsShift: "IDMAPPED", persistentVolumeClaim: true });
  });

  it("reads 64-bit resources from WorkspaceInfo (iws.WorkspaceInfoService)", async () => {
    const res = await unary(client("workspaceInfo"), "WorkspaceInfo", {});
    expect(res).toEqual({
      resources: {
        cpu: { used: "250", limit: "4000" },
        memory: { used: String(2 ** 33), limit: String(2 ** 34) },
      },
    });
  });

  it("checks and watches health (grpc.health.v1.Health)", async () => {
    expect(await unary(client("health"), "Check", { service: "" })).toEqual({ status: "SERVING" });
    const err = await statusError(unary(client("health"), "Check", { service: "no.such.Service" }));
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toBe("unknown service no.such.Service");

    // biome-ignore lint/suspicious/noExplicitAny: methods are attached to the client at run time.
    const stream: grpc.ClientReadableStream<Message> = (client("health") as any).Watch({
      service: "",
    });
    const statuses: unknown[] = [];
    for await (const update of stream) statuses.push(update);
    expect(statuses).toEqual([{ status: "SERVING" }, { status: "NOT_SERVING" }]);
  });
});
