import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as tls from "node:tls";
import { gzipSync } from "node:zlib";
import type { TestPki } from "@ws-daemon/test-support";

/** Where a listener is: a TCP port on 127.0.0.1 or a Unix socket. */
export type Target = { port: number } | { socketPath: string };

export const targetOf = (address: string): Target =>
  address.startsWith("unix://")
    ? { socketPath: address.slice("unix://".length) }
    : { port: Number(new URL(address).port) };

export const connectRaw = (target: Target): net.Socket =>
  "socketPath" in target ? net.connect(target.socketPath) : net.connect(target.port, "127.0.0.1");

export const h2Authority = (target: Target) =>
  "socketPath" in target ? "http://localhost" : `http://127.0.0.1:${target.port}`;

export function connectH2(target: Target): http2.ClientHttp2Session {
  return http2.connect(h2Authority(target), {
    createConnection: () => connectRaw(target),
  });
}

/** Resolves when the socket is closed by the other side, with what it had sent until then. */
export function closedBy(socket: net.Socket): Promise<string> {
  let received = "";
  socket.on("data", (d: Buffer) => {
    received += d.toString("latin1");
  });
  socket.on("error", () => {});
  return new Promise((resolve) => socket.once("close", () => resolve(received)));
}

/**
 * A gzip body of `members` × 64 MiB of zeros, about 64 KiB each: a few MiB on the wire that
 * inflate to `members` × 64 MiB (gunzip reads concatenated members as one stream).
 */
export function gzipBomb(members: number): Buffer {
  const member = gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 });
  return Buffer.concat(Array.from({ length: members }, () => member));
}

export interface ConnectAnswer {
  status: number;
  body: { code?: string; message?: string };
}

/** One Connect unary call over HTTP/1.1 with a raw (possibly compressed) binary body. */
export function connectUnary(
  target: Target,
  path: string,
  body: Buffer,
  headers: Record<string, string> = {},
): Promise<ConnectAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        ...("socketPath" in target
          ? { socketPath: target.socketPath }
          : { host: "127.0.0.1", port: target.port }),
        method: "POST",
        path,
        headers: {
          "content-type": "application/proto",
          "connect-protocol-version": "1",
          "content-length": String(body.length),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: ConnectAnswer["body"] = {};
          try {
            parsed = JSON.parse(text) as ConnectAnswer["body"];
          } catch {
            parsed = { message: text };
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

export interface GrpcAnswer {
  status: string | undefined;
  message: string | undefined;
}

/** Opens a gRPC call on `session`, writes `bodyPart` and waits for the status (headers or trailers). */
export function grpcPartialCall(
  session: http2.ClientHttp2Session,
  path: string,
  bodyPart: Buffer,
  end: boolean,
): Promise<GrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
    });
    let answer: GrpcAnswer | undefined;
    const take = (h: http2.IncomingHttpHeaders) => {
      const status = h["grpc-status"];
      if (status !== undefined && answer === undefined) {
        answer = {
          status: String(status),
          message: decodeURIComponent(String(h["grpc-message"] ?? "")),
        };
      }
    };
    stream.on("response", take);
    stream.on("trailers", take);
    stream.on("data", () => {});
    stream.on("close", () => (answer ? resolve(answer) : reject(new Error("no gRPC status"))));
    stream.on("error", () => {});
    if (end) stream.end(bodyPart);
    else stream.write(bodyPart);
  });
}

/** The gRPC envelope of one message. */
export function envelope(payload: Uint8Array): Buffer {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A mutual-TLS client that asked for HTTP/1.1 and got it (anything else is an error). */
export async function connectHttp1OverTls(port: number, pki: TestPki): Promise<tls.TLSSocket> {
  const socket = tls.connect({
    host: "127.0.0.1",
    port,
    ca: pki.ca,
    cert: pki.client.cert,
    key: pki.client.key,
    ALPNProtocols: ["http/1.1"],
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  if (socket.alpnProtocol !== "http/1.1") {
    socket.destroy();
    throw new Error(`asked for http/1.1 over TLS, the server chose ${socket.alpnProtocol}`);
  }
  return socket;
}
