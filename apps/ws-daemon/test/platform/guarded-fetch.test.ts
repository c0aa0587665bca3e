import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  guardedFetch,
  type NetworkPolicy,
  networkPolicy,
  type ResolveHost,
} from "../../src/platform/index.js";
import { HttpFileServer } from "../support/http-file-server.js";

/**
 * The fetch that downloads use (issue 17, finding 5). `origin` plays the public download server:
 * the test's policy is the production default with one exception, its exact address and port.
 * `internal` stands for what only the node may reach; it must never see a request.
 */
let origin: HttpFileServer;
let internal: HttpFileServer;
beforeAll(async () => {
  origin = await HttpFileServer.start();
  internal = await HttpFileServer.start();
});
afterAll(async () => {
  await origin.close();
  await internal.close();
});

const production = networkPolicy({ allowPrivateNetworks: false });
const allowingOnly = (address: string, port: number): NetworkPolicy => ({
  refusal: (a, p) => (a === address && p === port ? undefined : production.refusal(a, p)),
});

const redirect = (location: string) => ({ body: "", status: 302, headers: { location } });

describe("guardedFetch redirects", () => {
  const targets = (port: number): string[] => [
    `http://127.0.0.1:${port}/secret`,
    `http://127.1:${port}/secret`,
    `http://2130706433:${port}/secret`,
    `http://0x7f000001:${port}/secret`,
    `http://[::ffff:127.0.0.1]:${port}/secret`,
    `http://[::1]:${port}/secret`,
    `http://0.0.0.0:${port}/secret`,
    `http://localhost:${port}/secret`,
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
  ];

  it("refuses every spelling of an internal target, and the internal server sees nothing", async () => {
    internal.serve("/secret", "secret");
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port) });
    const before = internal.requests.length;
    for (const [i, target] of targets(internal.port).entries()) {
      const url = origin.serve(`/r${i}`, redirect(target));
      await expect(fetch(url, {}), target).rejects.toMatchObject({
        name: "NetworkPolicyError",
        kind: "permission-denied",
      });
    }
    expect(internal.requests.length).toBe(before);
  });

  it("refuses a redirect to a scheme other than http and https", async () => {
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port) });
    for (const target of ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"]) {
      const url = origin.serve("/scheme", redirect(target));
      await expect(fetch(url, {})).rejects.toMatchObject({
        kind: "permission-denied",
        message: expect.stringContaining("only http and https"),
      });
    }
  });

  it("follows allowed redirects (relative ones too) and returns the final body", async () => {
    origin.serve("/final", "the file");
    origin.serve("/middle", redirect("/final"));
    const url = origin.serve("/start", redirect(`${origin.baseUrl}/middle`));
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port) });
    const res = await fetch(url, {});
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("the file");
  });

  it("stops after maxRedirects", async () => {
    const url = origin.serve("/loop", redirect("/loop"));
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port), maxRedirects: 3 });
    const before = origin.requests.filter((p) => p === "/loop").length;
    await expect(fetch(url, {})).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("more than 3 redirects"),
    });
    expect(origin.requests.filter((p) => p === "/loop").length - before).toBe(4);
  });

  it("passes a non-redirect answer through with its status and headers", async () => {
    const url = origin.serve("/gone", { body: "gone", status: 410, headers: { "x-why": "gone" } });
    const res = await guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port) })(url, {});
    expect(res.status).toBe(410);
    expect(res.headers.get("x-why")).toBe("gone");
    expect(await res.text()).toBe("gone");
  });
});

describe("guardedFetch and DNS", () => {
  let rebound: HttpFileServer | undefined;
  afterEach(async () => {
    await rebound?.close();
    rebound = undefined;
  });

  it("connects to the address it checked, not to a second DNS answer (rebinding)", async () => {
    // Same port on 127.0.0.3: where a client that resolves again at connect time would land.
    rebound = await HttpFileServer.start("127.0.0.3", origin.port);
    rebound.serve("/file", "rebound secret");
    origin.serve("/file", "the file");
    const answers = ["127.0.0.1", "127.0.0.3"];
    let calls = 0;
    const resolve: ResolveHost = async () => [
      { address: answers[Math.min(calls++, 1)] ?? "", family: 4 },
    ];
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port), resolve });
    const res = await fetch(`http://downloads.test:${origin.port}/file`, {});
    expect(await res.text()).toBe("the file");
    expect(calls).toBe(1);
    expect(rebound.requests).toEqual([]);
  });

  it("refuses a name when any of its addresses is refused", async () => {
    const resolve: ResolveHost = async () => [
      { address: "127.0.0.1", family: 4 },
      { address: "10.0.0.1", family: 4 },
    ];
    const fetch = guardedFetch({ policy: allowingOnly("127.0.0.1", origin.port), resolve });
    await expect(fetch(`http://mixed.test:${origin.port}/x`, {})).rejects.toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("mixed.test"),
    });
  });
});

describe("guardedFetch over TLS with the address pinned", () => {
  let certs: TestPki;
  let server: Server;
  let port: number;
  beforeAll(async () => {
    certs = await createTestPki();
    server = createServer(
      {
        cert: certs.server.cert,
        key: certs.server.key,
      },
      (_req, res) => res.end("over tls"),
    );
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await certs.cleanup();
  });

  const toLoopback: ResolveHost = async () => [{ address: "127.0.0.1", family: 4 }];
  const relaxed = networkPolicy({ allowPrivateNetworks: true });

  it("verifies the certificate against the URL's host name", async () => {
    const fetch = guardedFetch({ policy: relaxed, resolve: toLoopback, ca: certs.ca });
    expect(await (await fetch(`https://localhost:${port}/`, {})).text()).toBe("over tls");
    await expect(fetch(`https://wrong-name.test:${port}/`, {})).rejects.toMatchObject({
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
    });
  });

  it("refuses a certificate from an unknown CA", async () => {
    const fetch = guardedFetch({ policy: relaxed, resolve: toLoopback });
    await expect(fetch(`https://localhost:${port}/`, {})).rejects.toMatchObject({
      code: expect.stringMatching(/VERIFY|CERT|SIGNED|ISSUER/),
    });
  });
});
