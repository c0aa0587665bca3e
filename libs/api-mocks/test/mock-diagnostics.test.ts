/**
 * What a test sees when a mock goes wrong, and how it finds out what was called: an exception
 * thrown by an `implement()` function reaches the client with its message and stack (on every
 * protocol), and `$calls()` names methods as the mock's properties do.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import {
  createDaemonClients,
  createDaemonTransport,
  type DaemonProtocol,
  statusOf,
} from "@ws-daemon/api";
import { afterAll, afterEach, describe, expect, expectTypeOf, it, vi } from "vitest";
import {
  type createHealthMock,
  createMockTransport,
  createWorkspaceContentServiceMock,
  debugInfoOf,
  type MockServer,
  startMockServer,
} from "../src/index.js";

const thisFile = "mock-diagnostics.test.ts";

function failingMock() {
  const mock = createWorkspaceContentServiceMock();
  mock.takeSnapshot.implement(() => {
    throw new TypeError("cannot read properties of undefined (reading 'url')");
  });
  return mock;
}

describe("an exception thrown by a mock's implementation", () => {
  const consoleError = vi.spyOn(console, "error").mockImplementation(() => {});
  afterEach(() => consoleError.mockClear());
  afterAll(() => consoleError.mockRestore());

  it("reaches an in-memory client with its message and stack, and is logged", async () => {
    const { content } = createDaemonClients(createMockTransport([failingMock()]));
    const error = await content.takeSnapshot({ id: "ws-1" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectError);
    const status = statusOf(error);
    expect(status.code).toBe(Code.Internal);
    expect(status.message).toBe(
      "mock of wsdaemon.WorkspaceContentService.TakeSnapshot threw TypeError: cannot read properties of undefined (reading 'url')",
    );
    const info = debugInfoOf(error);
    expect(info?.detail).toBe("TypeError: cannot read properties of undefined (reading 'url')");
    expect(info?.stackEntries.some((frame) => frame.includes(thisFile))).toBe(true);
    expect(consoleError).toHaveBeenCalledTimes(1);
    expect(String(consoleError.mock.calls[0]?.[0])).toContain("TakeSnapshot threw TypeError");
  });

  it("works the same for async implementations and non-Error values", async () => {
    const mock = createWorkspaceContentServiceMock();
    mock.isWorkspaceExists.implement(async () => {
      await Promise.resolve();
      throw "plain string";
    });
    const { content } = createDaemonClients(createMockTransport([mock]));
    const status = statusOf(await content.isWorkspaceExists({ id: "x" }).catch((e: unknown) => e));
    expect(status.code).toBe(Code.Internal);
    expect(status.message).toContain("IsWorkspaceExists threw non-error value: plain string");
  });

  it("keeps a thrown ConnectError as the status it is, without logging", async () => {
    const mock = createWorkspaceContentServiceMock();
    mock.waitForInit.implement(() => {
      throw new ConnectError("no such workspace", Code.NotFound);
    });
    const { content } = createDaemonClients(createMockTransport([mock]));
    const error = await content.waitForInit({ id: "x" }).catch((e: unknown) => e);
    expect(statusOf(error)).toMatchObject({ code: Code.NotFound, message: "no such workspace" });
    expect(debugInfoOf(error)).toBeUndefined();
    expect(consoleError).not.toHaveBeenCalled();
  });

  describe("over a real server", () => {
    let server: MockServer | undefined;
    afterAll(async () => server?.close());

    it.each<DaemonProtocol>(["grpc", "connect", "grpc-web"])(
      "carries message and stack with the %s protocol",
      async (protocol) => {
        server ??= await startMockServer([failingMock()]);
        const { content } = createDaemonClients(
          createDaemonTransport({ address: server.baseUrl, protocol }),
        );
        const error = await content.takeSnapshot({ id: "ws-1" }).catch((e: unknown) => e);
        expect(statusOf(error).code).toBe(Code.Internal);
        expect(statusOf(error).message).toContain("TakeSnapshot threw TypeError: cannot read");
        expect(debugInfoOf(error)?.stackEntries.some((f) => f.includes(thisFile))).toBe(true);
      },
    );
  });
});

describe("$calls()", () => {
  it("names each call by the mock property and by the rpc, typed per method", async () => {
    const mock = createWorkspaceContentServiceMock();
    const { content } = createDaemonClients(createMockTransport([mock]));
    await content.takeSnapshot({ id: "ws-1", returnImmediately: true });
    await content.isWorkspaceExists({ id: "ws-2" });

    const calls = mock.$calls();
    expect(calls.map(({ method, rpc }) => [method, rpc])).toEqual([
      ["takeSnapshot", "TakeSnapshot"],
      ["isWorkspaceExists", "IsWorkspaceExists"],
    ]);
    // The property name is the key to reach the method mock again.
    for (const { method } of calls) expect(mock[method].calls).toHaveLength(1);

    const first = calls[0];
    expectTypeOf<NonNullable<typeof first>["method"]>().toEqualTypeOf<
      | "initWorkspace"
      | "waitForInit"
      | "isWorkspaceExists"
      | "takeSnapshot"
      | "disposeWorkspace"
      | "backupWorkspace"
      | "getWorkspaceState"
      | "watchWorkspace"
      | "listWorkspaces"
    >();
    if (first?.method === "takeSnapshot") {
      // Narrowed by the method: the request is a TakeSnapshotRequest.
      expectTypeOf(first.rpc).toEqualTypeOf<"TakeSnapshot">();
      expect(first.call.request?.returnImmediately).toBe(true);
    } else {
      expect.unreachable(`first call was ${first?.method}`);
    }
  });

  it("is typed for every generated mock", () => {
    expectTypeOf<
      ReturnType<ReturnType<typeof createHealthMock>["$calls"]>[number]["method"]
    >().toEqualTypeOf<"check" | "list" | "watch">();
  });
});
