import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { closedBy, connectHttp1OverTls } from "./abuse-clients.js";

/**
 * gRPC-Web and Connect from browsers reach the TLS listener as HTTP/1.1 (ALPN "http/1.1"): the
 * header, request and idle timeouts the plaintext HTTP/1.1 server applies must hold there too,
 * or one client with a valid certificate holds sockets open forever.
 */
const limits = {
  idleTimeoutMs: 400,
  headersTimeoutMs: 300,
  requestTimeoutMs: 500,
};
const REQUEST_LINE = "POST /wsdaemon.WorkspaceContentService/IsWorkspaceExists HTTP/1.1\r\n";

let pki: TestPki;
let d: TestDaemon;
let port: number;
beforeAll(async () => {
  pki = await createTestPki();
  d = await startTestDaemon({
    limits,
    tls: {
      certFile: pki.files.server.cert,
      keyFile: pki.files.server.key,
      clientCaFile: pki.files.ca,
    },
  });
  port = Number(new URL(d.daemon.address).port);
});
afterAll(async () => {
  await d?.stop();
  await pki?.cleanup();
});

describe("HTTP/1.1 over TLS", () => {
  it("a client that sends part of its headers and goes silent is closed after headersTimeoutMs", async () => {
    const socket = await connectHttp1OverTls(port, pki);
    const closed = closedBy(socket);
    socket.write(`${REQUEST_LINE}Host: x\r\n`);
    const answer = await closed;
    // Node answers 408 when it can, then closes
    expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true);
  });

  it("a client that sends its headers one byte at a time is closed before they are complete", async () => {
    const socket = await connectHttp1OverTls(port, pki);
    const closed = closedBy(socket);
    // each byte arrives well within any per-read timeout; only a bound on the whole header block stops it
    const headers = `${REQUEST_LINE}Host: x\r\n${"x-slow: y\r\n".repeat(200)}\r\n`;
    let sent = 0;
    const drip = setInterval(() => {
      if (socket.destroyed || sent >= headers.length) return;
      socket.write(headers[sent] ?? "");
      sent++;
    }, 20);
    try {
      await closed;
    } finally {
      clearInterval(drip);
    }
    expect(sent).toBeLessThan(headers.length);
  });

  it("a keep-alive connection with no request open is closed after the idle timeout, and calls on it still work", async () => {
    const socket = await connectHttp1OverTls(port, pki);
    const closed = closedBy(socket);
    const body = JSON.stringify({ id: "ws-none" });
    socket.write(
      `${REQUEST_LINE}Host: x\r\nContent-Type: application/json\r\nConnect-Protocol-Version: 1\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    const answer = await closed;
    expect(answer.startsWith("HTTP/1.1 200")).toBe(true);
  });
});
