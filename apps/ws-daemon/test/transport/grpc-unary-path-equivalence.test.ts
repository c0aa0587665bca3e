/**
 * The unary gRPC path against connect-node: the same routes and interceptors behind two
 * servers, one with the path and one without, and the same raw HTTP/2 calls to both. What a
 * client can see (HTTP status, headers, trailers, the message, the status and its details)
 * must be the same.
 */
import * as http2 from "node:http2";
import { gunzipSync, gzipSync } from "node:zlib";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code as ConnectCode, ConnectError, type Interceptor } from "@connectrpc/connect";
import {
  Code,
  IsWorkspaceExistsRequestSchema,
  IsWorkspaceExistsResponseSchema,
  WorkspaceContentService,
} from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { errorMappingInterceptor } from "../../src/rpc/index.js";
import { type RpcServer, startRpcServer } from "../../src/transport/index.js";
import { connectH2, envelope, targetOf } from "./abuse-clients.js";

const PATH = "/wsdaemon.WorkspaceContentService/IsWorkspaceExists";

/** Why each server's "slow" handler saw its signal abort, by server. */
const abortedWith = new Map<string, unknown>();
/** Servers whose "slow" handler is waiting for its signal. */
const waiting = new Set<string>();

const routesFor =
  (name: string) => (router: Parameters<Parameters<typeof startRpcServer>[0]["routes"]>[0]) =>
    router.service(WorkspaceContentService, {
      async isWorkspaceExists(req, ctx) {
        ctx.responseHeader.set("x-echo", ctx.requestHeader.get("x-echo") ?? "none");
        ctx.responseHeader.append("x-list", "a");
        ctx.responseHeader.append("x-list", "b");
        ctx.responseTrailer.set("x-trailer", "t");
        if (req.id === "slow") {
          waiting.add(name);
          await new Promise((_, reject) =>
            ctx.signal.addEventListener("abort", () => {
              abortedWith.set(name, ctx.signal.reason);
              reject(ctx.signal.reason);
            }),
          );
        }
        if (req.id === "details") {
          const err = new ConnectError("with details", ConnectCode.FailedPrecondition, {
            "x-failure": "yes",
          });
          err.details.push({
            desc: IsWorkspaceExistsResponseSchema,
            value: { exists: true },
          });
          throw err;
        }
        if (req.id === "plain-error") throw new Error("not a status");
        return { exists: req.id === "there" };
      },
    });

/** Marks each answer so a test sees the interceptors ran on both paths. */
const tagging: Interceptor = (next) => async (req) => {
  const res = await next(req);
  res.header.set("x-intercepted", "1");
  return res;
};

const servers = new Map<string, RpcServer>();
beforeAll(async () => {
  for (const [name, grpcUnaryPath] of [
    ["unary path", true],
    ["connect-node", false],
  ] as const) {
    servers.set(
      name,
      await startRpcServer({
        listen: { host: "127.0.0.1", port: 0 },
        interceptors: [tagging, errorMappingInterceptor],
        routes: routesFor(name),
        grpcUnaryPath,
      }),
    );
  }
});
afterAll(async () => {
  await Promise.all([...servers.values()].map((s) => s.close(100)));
});

interface RawAnswer {
  status: number | undefined;
  headers: Record<string, unknown>;
  trailers: Record<string, unknown>;
  messages: { exists: boolean }[];
}

/** Headers every response may carry differently (the clock) or that HTTP/2 adds itself. */
const UNCOMPARED = new Set([":status", "date"]);

function visible(h: http2.IncomingHttpHeaders): Record<string, unknown> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !UNCOMPARED.has(k)));
}

/** Decodes the response's enveloped messages (gzip-compressed ones too). */
function messagesOf(body: Buffer, encoding: unknown): { exists: boolean }[] {
  const out: { exists: boolean }[] = [];
  for (let at = 0; at + 5 <= body.length; ) {
    const length = body.readUInt32BE(at + 1);
    let payload = body.subarray(at + 5, at + 5 + length);
    if ((body[at] ?? 0) & 1) {
      expect(encoding).toBe("gzip");
      payload = gunzipSync(payload);
    }
    out.push({ exists: fromBinary(IsWorkspaceExistsResponseSchema, payload).exists });
    at += 5 + length;
  }
  return out;
}

/** One raw gRPC call; with `cancel`, the stream is reset (CANCEL) once that resolves. */
function rawCall(
  server: RpcServer,
  id: string,
  extra: http2.OutgoingHttpHeaders = {},
  options: { gzipRequest?: boolean; cancel?: () => Promise<void> } = {},
): Promise<RawAnswer> {
  const session = connectH2(targetOf(server.address));
  return new Promise<RawAnswer>((resolve, reject) => {
    const payload = Buffer.from(
      toBinary(IsWorkspaceExistsRequestSchema, create(IsWorkspaceExistsRequestSchema, { id })),
    );
    let body = envelope(payload);
    if (options.gzipRequest) {
      const zipped = gzipSync(payload);
      body = envelope(zipped);
      body[0] = 1;
    }
    const stream = session.request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/grpc",
      te: "trailers",
      ...(options.gzipRequest ? { "grpc-encoding": "gzip" } : {}),
      ...extra,
    });
    const answer: RawAnswer = { status: undefined, headers: {}, trailers: {}, messages: [] };
    const chunks: Buffer[] = [];
    stream.on("response", (h) => {
      answer.status = Number(h[":status"]);
      answer.headers = visible(h);
    });
    stream.on("trailers", (t) => {
      answer.trailers = visible(t);
    });
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    stream.on("close", () => {
      answer.messages = messagesOf(Buffer.concat(chunks), answer.headers["grpc-encoding"]);
      session.close();
      resolve(answer);
    });
    stream.end(body);
    if (options.cancel)
      options.cancel().then(() => stream.close(http2.constants.NGHTTP2_CANCEL), reject);
  });
}

/**
 * What a gRPC client sees of a status answer: the unary path sends it trailers-only (one header
 * block), connect-node as headers then trailers, both as the gRPC spec allows; and grpc-message
 * is percent-encoded by each in its own (valid) way.
 */
function asSeen(answer: RawAnswer) {
  const metadata: Record<string, unknown> = { ...answer.headers, ...answer.trailers };
  if (typeof metadata["grpc-message"] === "string") {
    metadata["grpc-message"] = decodeURIComponent(metadata["grpc-message"]);
  }
  return { status: answer.status, metadata, messages: answer.messages };
}

async function bothAnswers(
  id: string,
  extra?: http2.OutgoingHttpHeaders,
  options?: { gzipRequest?: boolean },
): Promise<[RawAnswer, RawAnswer]> {
  const fast = await rawCall(servers.get("unary path") as RpcServer, id, extra, options);
  const generic = await rawCall(servers.get("connect-node") as RpcServer, id, extra, options);
  return [fast, generic];
}

describe("the unary gRPC path answers as connect-node does", () => {
  it("a success, with request metadata, response headers (repeated ones joined) and trailers", async () => {
    const [fast, generic] = await bothAnswers("there", { "x-echo": "hello" });
    expect(generic).toMatchObject({
      status: 200,
      messages: [{ exists: true }],
      headers: { "x-echo": "hello", "x-list": "a, b", "x-intercepted": "1" },
      trailers: { "grpc-status": "0", "x-trailer": "t" },
    });
    expect(fast).toEqual(generic);
  });

  it("a status with metadata and details (grpc-status-details-bin)", async () => {
    const [fast, generic] = await bothAnswers("details");
    expect(generic.trailers["grpc-status"] ?? generic.headers["grpc-status"]).toBe(
      String(Code.FailedPrecondition),
    );
    expect(asSeen(generic).metadata).toMatchObject({
      "grpc-status-details-bin": expect.any(String),
      "grpc-message": "with details",
      "x-failure": "yes",
      "x-echo": "none",
      "x-trailer": "t",
    });
    expect(asSeen(fast)).toEqual(asSeen(generic));
  });

  it("a handler's plain Error, mapped to INTERNAL by the error mapping", async () => {
    const [fast, generic] = await bothAnswers("plain-error");
    expect(generic.headers["grpc-status"] ?? generic.trailers["grpc-status"]).toBe(
      String(Code.Internal),
    );
    expect(asSeen(fast)).toEqual(asSeen(generic));
  });

  it("a deadline (grpc-timeout) that passes while the handler waits: DEADLINE_EXCEEDED", async () => {
    abortedWith.clear();
    const [fast, generic] = await bothAnswers("slow", { "grpc-timeout": "50m" });
    expect(generic.headers["grpc-status"] ?? generic.trailers["grpc-status"]).toBe(
      String(Code.DeadlineExceeded),
    );
    expect(asSeen(fast)).toEqual(asSeen(generic));
    const reasons = [...abortedWith.values()].map((r) => ConnectError.from(r).code);
    expect(reasons).toEqual([ConnectCode.DeadlineExceeded, ConnectCode.DeadlineExceeded]);
  });

  it("a client that cancels: the handler's signal aborts on both paths", async () => {
    abortedWith.clear();
    waiting.clear();
    for (const name of servers.keys()) {
      const server = servers.get(name) as RpcServer;
      await rawCall(
        server,
        "slow",
        {},
        {
          cancel: async () => {
            while (!waiting.has(name)) await new Promise((r) => setTimeout(r, 10));
          },
        },
      );
      while (!abortedWith.has(name)) await new Promise((r) => setTimeout(r, 10));
    }
    const reasons = [...abortedWith.values()].map((r) => ConnectError.from(r).code);
    expect(reasons).toEqual([ConnectCode.Canceled, ConnectCode.Canceled]);
  });

  it("a gzip-compressed request, and a client that accepts gzip answers", async () => {
    const [fast, generic] = await bothAnswers(
      "there",
      { "grpc-accept-encoding": "gzip" },
      {
        gzipRequest: true,
      },
    );
    expect(generic.messages).toEqual([{ exists: true }]);
    expect(fast).toEqual(generic);
    const [plainFast, plainGeneric] = await bothAnswers("there", {
      "grpc-accept-encoding": "gzip",
    });
    expect(plainFast.messages).toEqual(plainGeneric.messages);
    expect(plainFast.trailers).toEqual(plainGeneric.trailers);
  });
});
