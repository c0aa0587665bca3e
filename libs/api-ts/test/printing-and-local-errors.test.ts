/**
 * Printing a response: `JSON.stringify` throws on int64 fields (bigint), the SDK's
 * `toPlainJson`/`toJsonText` do not; and such a local exception is not reported by `statusOf`
 * as if it were a status from the server.
 */
import { create } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import {
  apiRegistry,
  createDaemonClients,
  createDaemonTransport,
  DisposeWorkspaceResponseSchema,
  localErrorName,
  statusOf,
  toJsonText,
  toPlainJson,
  WorkspaceContentService,
} from "../src/index.js";

const response = create(DisposeWorkspaceResponseSchema, {
  gitStatus: {
    branch: "main",
    uncommittedFiles: ["a.txt"],
    totalUncommittedFiles: 3n,
    totalUntrackedFiles: 0n,
  },
});

describe("printing a response", () => {
  it("JSON.stringify throws on its int64 fields", () => {
    expect(() => JSON.stringify(response)).toThrow(TypeError);
  });

  it("toPlainJson gives proto3 JSON: int64 as strings, defaults included", () => {
    const json = toPlainJson(response);
    expect(json).toEqual({
      gitStatus: {
        branch: "main",
        latestCommit: "",
        uncommittedFiles: ["a.txt"],
        untrackedFiles: [],
        unpushedCommits: [],
        totalUncommittedFiles: "3",
        totalUntrackedFiles: "0",
        totalUnpushedCommits: "0",
      },
    });
    expect(toPlainJson(response, { alwaysEmitImplicit: false })).toEqual({
      gitStatus: { branch: "main", uncommittedFiles: ["a.txt"], totalUncommittedFiles: "3" },
    });
  });

  it("toJsonText indents", () => {
    const text = toJsonText(create(DisposeWorkspaceResponseSchema, {}), { indent: 1 });
    expect(text).toBe("{}");
    expect(toJsonText(response)).toContain('\n    "totalUncommittedFiles": "3",\n');
  });

  it("says what to do with a message from another schema", () => {
    expect(() => toPlainJson(create(StructSchema, {}))).toThrow(
      "google.protobuf.Struct is not a message of the Workspace Daemon API: use toJson(schema, message)",
    );
  });

  it("the registry knows every service of the API", () => {
    expect(apiRegistry.getService("wsdaemon.WorkspaceContentService")).toBe(
      WorkspaceContentService,
    );
    expect(apiRegistry.getService("iws.InWorkspaceService")).toBeDefined();
    expect(apiRegistry.getService("grpc.health.v1.Health")).toBeDefined();
  });
});

describe("statusOf", () => {
  it("reports an exception of the caller's own code as local, not as a server status", async () => {
    const transport = createRouterTransport(({ service }) =>
      service(WorkspaceContentService, { disposeWorkspace: () => response }),
    );
    const { content } = createDaemonClients(transport);
    const error = await content
      .disposeWorkspace({ id: "ws-1" })
      .then((r) => JSON.stringify(r))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    const status = statusOf(error);
    expect(status).toMatchObject({ local: true, codeName: localErrorName, code: Code.Unknown });
    expect(status.message).toMatch(
      /^TypeError: .*BigInt.* \(thrown locally, not a status from the server\)$/,
    );
    expect(statusOf("a string").message).toBe(
      "a string (thrown locally, not a status from the server)",
    );
  });

  it("reports statuses of calls as they are", async () => {
    const transport = createRouterTransport(({ service }) =>
      service(WorkspaceContentService, {
        takeSnapshot: () => {
          throw new ConnectError("workspace is not ready", Code.FailedPrecondition);
        },
      }),
    );
    const { content } = createDaemonClients(transport);
    const status = statusOf(await content.takeSnapshot({ id: "ws-1" }).catch((e: unknown) => e));
    expect(status).toMatchObject({
      local: false,
      code: Code.FailedPrecondition,
      codeName: "FAILED_PRECONDITION",
      message: "workspace is not ready",
    });
  });

  it("reports a failure of the transport (nothing listening) as a call status", async () => {
    const { health } = createDaemonClients(
      createDaemonTransport({ address: "unix:///nonexistent/wsd-test.sock" }),
    );
    const status = statusOf(await health.check({}).catch((e: unknown) => e));
    expect(status).toMatchObject({ local: false, code: Code.Unavailable, codeName: "UNAVAILABLE" });
  });
});
