import { create, toBinary } from "@bufbuild/protobuf";
import { Code, IsWorkspaceExistsRequestSchema, statusOf } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import {
  closedBy,
  connectH2,
  connectRaw,
  connectUnary,
  envelope,
  grpcPartialCall,
  gzipBomb,
  type Target,
  targetOf,
} from "./abuse-clients.js";

const MIB = 1024 * 1024;
const IS_WORKSPACE_EXISTS = "/wsdaemon.WorkspaceContentService/IsWorkspaceExists";
const limits = {
  maxConnections: 8,
  maxConcurrentStreams: 7,
  idleTimeoutMs: 400,
  headersTimeoutMs: 300,
  requestTimeoutMs: 500,
};

let d: TestDaemon;
let target: Target;
beforeAll(async () => {
  d = await startTestDaemon({ limits, log: { level: "info", format: "json" } });
  target = targetOf(d.daemon.address);
});
afterAll(() => d.stop());

const refusals = async (limit: string, of: TestDaemon = d) => {
  const text = await (await fetch(`http://127.0.0.1:${of.daemon.metricsPort}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`wsd_transport_limit_refusals_total{api="node",limit="${limit}"}`));
  return Number(line?.split(" ")[1] ?? 0);
};

describe("node API limits", () => {
  it("a Connect request of a few MiB gzip that inflates to 4 GiB is RESOURCE_EXHAUSTED naming readMaxBytes, and the daemon's memory stays put", async () => {
    const bomb = gzipBomb(64);
    expect(bomb.length).toBeGreaterThan(3 * MIB);
    const rssBefore = process.memoryUsage().rss;
    const answer = await connectUnary(target, IS_WORKSPACE_EXISTS, bomb, {
      "content-encoding": "gzip",
    });
    const grown = process.memoryUsage().rss - rssBefore;
    expect(answer.status).toBe(429);
    expect(answer.body.code).toBe("resource_exhausted");
    expect(answer.body.message).toContain("readMaxBytes");
    // the 4 MiB limit plus the bomb itself and zlib's buffers; unbounded it was gigabytes
    expect(grown).toBeLessThan(128 * MIB);
  });

  it("a gRPC message over readMaxBytes is RESOURCE_EXHAUSTED naming the limit, before its body is read", async () => {
    const { content } = d.clients();
    const err = await content.isWorkspaceExists({ id: "x".repeat(5 * MIB) }).catch(statusOf);
    expect(err).toMatchObject({
      code: Code.ResourceExhausted,
      message: expect.stringContaining("readMaxBytes"),
    });
    // the daemon still answers on the same client
    expect((await content.isWorkspaceExists({ id: "ws-none" })).exists).toBe(false);
    expect(await refusals("readMaxBytes")).toBeGreaterThan(0);
  });

  it("a client that sends one byte of the HTTP/2 preface and goes silent is closed after headersTimeoutMs", async () => {
    const before = await refusals("headersTimeoutMs");
    const socket = connectRaw(target);
    socket.write("P");
    // the daemon's own SETTINGS frame may have gone out; then the connection closes
    await closedBy(socket);
    expect(await refusals("headersTimeoutMs")).toBeGreaterThan(before);
  });

  it("an h2c client that finishes the handshake and opens no call is sent away after idleTimeoutMs", async () => {
    const session = connectH2(target);
    const goaway = new Promise<void>((resolve) => session.once("goaway", () => resolve()));
    await new Promise<void>((resolve) => session.once("remoteSettings", () => resolve()));
    await goaway;
    await new Promise<void>((resolve) =>
      session.closed ? resolve() : session.once("close", () => resolve()),
    );
    expect(await refusals("idleTimeoutMs")).toBeGreaterThan(0);
  });

  it("an HTTP/1.1 client that sends part of its headers and goes silent is closed after headersTimeoutMs", async () => {
    const socket = connectRaw(target);
    socket.write(
      "POST /wsdaemon.WorkspaceContentService/IsWorkspaceExists HTTP/1.1\r\nHost: x\r\n",
    );
    const answer = await closedBy(socket);
    // Node answers 408 when it can, then closes
    expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true);
  });

  it("a unary gRPC call whose body stops half-way is RESOURCE_EXHAUSTED naming requestTimeoutMs", async () => {
    const session = connectH2(target);
    try {
      const whole = envelope(
        toBinary(
          IsWorkspaceExistsRequestSchema,
          create(IsWorkspaceExistsRequestSchema, { id: "ws-slow" }),
        ),
      );
      const answer = await grpcPartialCall(
        session,
        IS_WORKSPACE_EXISTS,
        whole.subarray(0, 3),
        false,
      );
      expect(answer.status).toBe(String(Code.ResourceExhausted));
      expect(answer.message).toContain("requestTimeoutMs");
    } finally {
      session.destroy();
    }
  });

  it("advertises maxConcurrentStreams in its HTTP/2 settings and refuses the stream beyond it", async () => {
    const session = connectH2(target);
    try {
      const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) =>
        session.once("remoteSettings", resolve),
      );
      expect(settings.maxConcurrentStreams).toBe(limits.maxConcurrentStreams);
    } finally {
      session.destroy();
    }
  });
});

describe("node API connection limit", () => {
  let small: TestDaemon;
  beforeAll(async () => {
    small = await startTestDaemon({ limits: { maxConnections: 4 } });
  });
  afterAll(() => small.stop());

  it("closes connections beyond maxConnections as they arrive and takes new ones once others end", async () => {
    const at = targetOf(small.daemon.address);
    const held = Array.from({ length: 4 }, () => connectH2(at));
    // established: the daemon has accepted each and answered its handshake
    await Promise.all(
      held.map((s) => new Promise<void>((resolve) => s.once("remoteSettings", () => resolve()))),
    );
    const extra = connectRaw(at);
    expect(await closedBy(extra)).toBe("");
    expect(held.every((s) => !s.closed && !s.destroyed)).toBe(true);
    for (const s of held) s.destroy();
    const { content } = small.clients();
    // once the held ones are gone a client gets in again (it may race their close: retry)
    let exists: boolean | undefined;
    for (let i = 0; i < 50 && exists === undefined; i++) {
      exists = await content
        .isWorkspaceExists({ id: "ws-none" })
        .then((r) => r.exists)
        .catch(() => undefined);
      if (exists === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    expect(exists).toBe(false);
    // closed by the limit, not by the handshake timeout (10 s here) that closes silent ones too
    expect(await refusals("maxConnections", small)).toBeGreaterThan(0);
  });
});
