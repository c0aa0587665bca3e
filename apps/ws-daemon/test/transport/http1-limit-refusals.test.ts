import type * as net from "node:net";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";
import { closedBy, connectHttp1OverTls, connectRaw, targetOf } from "./abuse-clients.js";

/**
 * The HTTP/1.1 timeouts close connections inside Node's HTTP server, not in our code: each close
 * must still show in wsd_transport_limit_refusals_total under the limit that caused it, on the
 * TLS listener (HTTP/1.1 by ALPN) as on the plaintext one, like the HTTP/2 limits do.
 */
const limits = {
  idleTimeoutMs: 400,
  headersTimeoutMs: 300,
  requestTimeoutMs: 500,
};
const REQUEST_LINE = "POST /wsdaemon.WorkspaceContentService/IsWorkspaceExists HTTP/1.1\r\n";
const BODY = JSON.stringify({ id: "ws-none" });
const CONNECT_HEADERS =
  "Host: x\r\nContent-Type: application/json\r\nConnect-Protocol-Version: 1\r\n";

let pki: TestPki;
let overTls: TestDaemon;
let plain: TestDaemon;
beforeAll(async () => {
  pki = await createTestPki();
  overTls = await startTestDaemon({
    limits,
    tls: {
      certFile: pki.files.server.cert,
      keyFile: pki.files.server.key,
      clientCaFile: pki.files.ca,
    },
  });
  plain = await startTestDaemon({ limits });
});
afterAll(async () => {
  await overTls?.stop();
  await plain?.stop();
  await pki?.cleanup();
});

const refusals = async (of: TestDaemon, limit: string): Promise<number> => {
  const text = await (await fetch(`http://127.0.0.1:${of.daemon.metricsPort}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) => l.startsWith(`wsd_transport_limit_refusals_total{api="node",limit="${limit}"}`));
  return Number(line?.split(" ")[1] ?? 0);
};

const listeners = [
  {
    name: "HTTP/1.1 over TLS",
    daemon: () => overTls,
    connect: (): Promise<net.Socket> =>
      connectHttp1OverTls(Number(new URL(overTls.daemon.address).port), pki),
  },
  {
    name: "plaintext HTTP/1.1",
    daemon: () => plain,
    connect: async () => connectRaw(targetOf(plain.daemon.address)),
  },
];

for (const l of listeners) {
  describe(`${l.name}: timeouts count as refusals`, () => {
    it("headers that stop half-way count under headersTimeoutMs", async () => {
      const before = await refusals(l.daemon(), "headersTimeoutMs");
      const socket = await l.connect();
      const closed = closedBy(socket);
      socket.write(`${REQUEST_LINE}Host: x\r\n`);
      const answer = await closed;
      expect(answer === "" || answer.startsWith("HTTP/1.1 408")).toBe(true);
      expect(await refusals(l.daemon(), "headersTimeoutMs")).toBe(before + 1);
    });

    it("a body that stops half-way counts under requestTimeoutMs", async () => {
      const before = await refusals(l.daemon(), "requestTimeoutMs");
      const headersBefore = await refusals(l.daemon(), "headersTimeoutMs");
      const socket = await l.connect();
      const closed = closedBy(socket);
      socket.write(
        `${REQUEST_LINE}${CONNECT_HEADERS}Content-Length: ${BODY.length + 10}\r\n\r\n${BODY}`,
      );
      await closed;
      expect(await refusals(l.daemon(), "requestTimeoutMs")).toBe(before + 1);
      expect(await refusals(l.daemon(), "headersTimeoutMs")).toBe(headersBefore);
    });

    it("a keep-alive connection left idle after its call counts under idleTimeoutMs", async () => {
      const before = await refusals(l.daemon(), "idleTimeoutMs");
      const headersBefore = await refusals(l.daemon(), "headersTimeoutMs");
      const socket = await l.connect();
      const closed = closedBy(socket);
      socket.write(
        `${REQUEST_LINE}${CONNECT_HEADERS}Content-Length: ${BODY.length}\r\n\r\n${BODY}`,
      );
      const answer = await closed;
      expect(answer.startsWith("HTTP/1.1 200")).toBe(true);
      expect(await refusals(l.daemon(), "idleTimeoutMs")).toBe(before + 1);
      expect(await refusals(l.daemon(), "headersTimeoutMs")).toBe(headersBefore);
    });
  });
}
