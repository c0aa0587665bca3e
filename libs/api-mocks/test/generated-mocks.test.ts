/**
 * Every method of every generated mock is callable through a real client, answers with a
 * default response, and can be stubbed with a value, an error code or a function.
 */
import { create, type DescMessage, type DescMethod, equals } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createDaemonTransport, WorkspaceContentService } from "@ws-daemon/api";
import { afterAll, describe, expect, it, vi } from "vitest";
import {
  createMockTransport,
  createWorkspaceContentServiceMock,
  mockFactories,
  type ServiceMock,
  startMockServer,
} from "../src/index.js";

/** A response init with one field set, so a stubbed value is told apart from the default. */
function sample(desc: DescMessage): Record<string, unknown> {
  for (const f of desc.fields) {
    if (f.fieldKind === "scalar" && f.oneof === undefined) {
      const v = { 9: "stubbed", 8: true, 3: 42n, 4: 42n, 5: 42, 13: 42 }[f.scalar as number];
      if (v !== undefined) return { [f.localName]: v };
    }
    if (f.fieldKind === "message" && f.oneof === undefined) return { [f.localName]: {} };
  }
  return {};
}

async function call(
  transport: Transport,
  mock: ServiceMock<never>,
  method: DescMethod,
): Promise<unknown[]> {
  // biome-ignore lint/suspicious/noExplicitAny: generic over every method of every service
  const client = createClient(mock.$service, transport) as any;
  const request = create(method.input);
  const fn = client[method.localName];
  switch (method.methodKind) {
    case "unary":
      return [await fn(request)];
    case "server_streaming": {
      const out: unknown[] = [];
      for await (const r of fn(request)) out.push(r);
      return out;
    }
    case "client_streaming":
      return [
        await fn(
          (async function* () {
            yield request;
          })(),
        ),
      ];
    case "bidi_streaming": {
      const out: unknown[] = [];
      for await (const r of fn(
        (async function* () {
          yield request;
        })(),
      ))
        out.push(r);
      return out;
    }
  }
}

const services = Object.entries(mockFactories).map(([name, factory]) => ({ name, factory }));

describe.each(services)("mock of $name", ({ name, factory }) => {
  const probe = factory() as unknown as ServiceMock<never>;
  const methods = (probe.$service as unknown as { methods: DescMethod[] }).methods;

  it("covers every method of the service", () => {
    expect(probe.$service).toBeDefined();
    expect((probe.$service as unknown as { typeName: string }).typeName).toBe(name);
    for (const m of methods) expect(probe, m.localName).toHaveProperty(m.localName);
  });

  it.each(methods.map((m) => [m.name, m]))(
    "%s: default, value, error and function stubs",
    async (_n, method) => {
      const mock = factory() as unknown as ServiceMock<never>;
      // biome-ignore lint/suspicious/noExplicitAny: reached through the method's local name
      const m = (mock as any)[method.localName];
      const transport = createMockTransport([mock]);
      const isStream =
        method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
      const wrap = (v: unknown) => (isStream ? [v] : v);

      const [first] = await call(transport, mock, method);
      expect(equals(method.output, first as never, create(method.output))).toBe(true);
      expect(m.calls).toHaveLength(1);
      expect(equals(method.input, m.calls[0].request, create(method.input))).toBe(true);

      const value = sample(method.output);
      m.returns(wrap(value));
      const [stubbed] = await call(transport, mock, method);
      expect(equals(method.output, stubbed as never, create(method.output, value as never))).toBe(
        true,
      );

      m.failsOnce(Code.PermissionDenied, "no access");
      const error = await call(transport, mock, method).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ConnectError);
      expect((error as ConnectError).code).toBe(Code.PermissionDenied);
      expect((error as ConnectError).rawMessage).toBe("no access");
      const [again] = await call(transport, mock, method);
      expect(equals(method.output, again as never, create(method.output, value as never))).toBe(
        true,
      );

      const fn = vi.fn(
        isStream
          ? async function* () {
              yield value;
            }
          : async () => value,
      );
      m.implement(fn);
      await call(transport, mock, method);
      expect(fn).toHaveBeenCalledTimes(1);

      expect(m.calls).toHaveLength(5);
      expect(mock.$calls()).toHaveLength(5);
      mock.$reset();
      expect(m.calls).toHaveLength(0);
      const [reset] = await call(transport, mock, method);
      expect(equals(method.output, reset as never, create(method.output))).toBe(true);
    },
  );
});

describe("mock server", () => {
  const mock = createWorkspaceContentServiceMock();
  const started = startMockServer([mock]);
  afterAll(async () => (await started).close());

  it("serves gRPC and Connect on a TCP port", async () => {
    const server = await started;
    mock.isWorkspaceExists.returns({ exists: true });
    for (const protocol of ["grpc", "connect"] as const) {
      const client = createClient(
        WorkspaceContentService,
        createDaemonTransport({ address: server.baseUrl, protocol }),
      );
      expect((await client.isWorkspaceExists({ id: "ws-1" })).exists).toBe(true);
    }
    expect(mock.isWorkspaceExists.calls.map((c) => c.request?.id)).toEqual(["ws-1", "ws-1"]);
  });

  it("serves on a Unix socket", async () => {
    const dir = await import("node:fs/promises").then((fs) => fs.mkdtemp("/tmp/wsd-mock-"));
    const socketPath = `${dir}/daemon.sock`;
    const unixMock = createWorkspaceContentServiceMock();
    unixMock.takeSnapshot.returns({ url: "snapshot://1" });
    const server = await startMockServer([unixMock], { listen: { socketPath } });
    try {
      expect(server.target).toBe(`unix://${socketPath}`);
      const client = createClient(
        WorkspaceContentService,
        createDaemonTransport({ address: server.target }),
      );
      expect((await client.takeSnapshot({ id: "a" })).url).toBe("snapshot://1");
    } finally {
      await server.close();
    }
  });
});
