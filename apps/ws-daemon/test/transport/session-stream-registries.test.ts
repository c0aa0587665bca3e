import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { useChurnFreeStreamRegistries } from "../../src/transport/session-stream-registries.js";

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** An HTTP/2 server whose sessions get the registries; `onStream` answers (or holds) streams. */
async function serve(onStream: (stream: http2.ServerHttp2Stream) => void) {
  const installed: boolean[] = [];
  const sessions: http2.ServerHttp2Session[] = [];
  const server = http2.createServer();
  server.on("session", (session) => {
    installed.push(useChurnFreeStreamRegistries(session));
    sessions.push(session);
  });
  server.on("stream", onStream);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  client.on("error", () => {});
  closers.push(() => {
    client.destroy();
    server.close();
  });
  return { installed, sessions, client };
}

function get(
  client: http2.ClientHttp2Session,
  path: string,
): Promise<{ status: unknown; body: string; error?: unknown }> {
  return new Promise((resolve) => {
    const req = client.request({ ":path": path });
    let body = "";
    let status: unknown;
    req.on("response", (h) => {
      status = h[":status"];
    });
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
    });
    req.on("end", () => resolve({ status, body }));
    req.on("error", (error) => resolve({ status, body, error }));
    req.end();
  });
}

describe("the HTTP/2 session's stream registries", () => {
  it("are replaced on this Node version, and hundreds of concurrent streams are served", async () => {
    const { installed, client } = await serve((stream) => {
      stream.respond({ ":status": 200 });
      // answer out of order, so streams end while newer ones are registered
      setTimeout(() => stream.end(`hello ${stream.id}`), Math.floor(Math.random() * 5));
    });
    for (let round = 0; round < 5; round++) {
      const answers = await Promise.all(Array.from({ length: 90 }, () => get(client, "/")));
      for (const a of answers) {
        expect(a.error).toBeUndefined();
        expect(a.status).toBe(200);
        expect(a.body).toMatch(/^hello \d+$/);
      }
    }
    expect(installed).toEqual([true]);
  });

  it("let a destroyed session close every stream it still has open", async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const { sessions, client } = await serve((stream) => {
      stream.respond({ ":status": 200 });
      stream.write("started");
      held.push(stream);
    });
    const answers = Array.from({ length: 20 }, () => get(client, "/hold"));
    while (held.length < 20) await new Promise((r) => setTimeout(r, 10));
    sessions[0]?.destroy();
    const settled = await Promise.all(answers);
    expect(settled.every((a) => a.error !== undefined || a.body === "started")).toBe(true);
    expect(held.every((s) => s.destroyed)).toBe(true);
  });
});
