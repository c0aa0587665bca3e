import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { Code, HealthCheckResponse_ServingStatus as Status, statusOf } from "@ws-daemon/api";
import { createTestPki, type TestPki } from "@ws-daemon/test-support";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDaemon, type TestDaemon } from "../support/daemon-harness.js";

const run = promisify(execFile);

/** A client certificate of the test CA with the given CN and subject alternative names. */
async function clientCert(pki: TestPki, name: string, san: string[]) {
  const file = (ext: string) => join(pki.dir, `${name}.${ext}`);
  await run("openssl", [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-keyout",
    file("key"),
    "-out",
    file("csr"),
    "-subj",
    `/CN=${name}`,
  ]);
  const ext = [
    "extendedKeyUsage=clientAuth",
    ...(san.length ? [`subjectAltName=${san.join(",")}`] : []),
  ];
  await writeFile(file("ext"), `${ext.join("\n")}\n`);
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    file("csr"),
    "-CA",
    join(pki.dir, "test-ca.crt"),
    "-CAkey",
    join(pki.dir, "test-ca.key"),
    "-CAserial",
    file("srl"),
    "-CAcreateserial",
    "-out",
    file("crt"),
    "-days",
    "2",
    "-extfile",
    file("ext"),
  ]);
  return { cert: await readFile(file("crt"), "utf8"), key: await readFile(file("key"), "utf8") };
}

/**
 * Issue 10: with mutual TLS every certificate of the client CA is let in; an allow-list per
 * service narrows that to named clients. A client with a valid certificate that is not on the
 * list gets PERMISSION_DENIED, and nothing happens.
 */
describe("allow-lists of client identities per service", () => {
  let pki: TestPki;
  let d: TestDaemon;
  let byDns: { cert: string; key: string };
  let byUri: { cert: string; key: string };
  beforeAll(async () => {
    pki = await createTestPki();
    [byDns, byUri] = await Promise.all([
      clientCert(pki, "dns-client", ["DNS:node-manager.example"]),
      clientCert(pki, "uri-client", ["URI:spiffe://cluster/ns/gitpod/sa/ws-manager"]),
    ]);
    d = await startTestDaemon({
      tls: {
        certFile: pki.files.server.cert,
        keyFile: pki.files.server.key,
        clientCaFile: pki.files.ca,
      },
      auth: {
        allowedClients: {
          content: ["node-manager.example", "spiffe://cluster/ns/gitpod/sa/ws-manager"],
          health: ["test-client", "node-manager.example"],
        },
      },
    });
  });
  afterAll(async () => {
    await d?.stop();
    await pki?.cleanup();
  });
  const as = (pair: { cert: string; key: string }) =>
    d.clients({ tls: { ca: pki.ca, cert: pair.cert, key: pair.key } });

  it("lets in a client named by a DNS or URI subject alternative name", async () => {
    for (const pair of [byDns, byUri]) {
      expect((await as(pair).content.isWorkspaceExists({ id: "ws-none" })).exists).toBe(false);
    }
  });

  it("refuses a valid client certificate that is not on the list, and nothing happens", async () => {
    const stranger = as(pki.client); // CN=test-client, signed by the client CA
    const err = await stranger.content
      .initWorkspace({
        id: "ws-by-stranger",
        metadata: { owner: "o", metaId: "m" },
        initializer: { spec: { case: "empty", value: {} } },
      })
      .catch(statusOf);
    expect(err).toMatchObject({
      code: Code.PermissionDenied,
      message: expect.stringMatching(
        /client \["test-client"\] is not allowed to call wsdaemon\.WorkspaceContentService/,
      ),
    });
    expect(d.daemon.manager.get("ws-by-stranger")).toBeUndefined();
  });

  it("keeps one list per service, and matches the subject CN too", async () => {
    // Health lists test-client by its CN and the DNS client, not the URI client
    expect((await as(pki.client).health.check({})).status).toBe(Status.SERVING);
    expect((await as(byDns).health.check({})).status).toBe(Status.SERVING);
    expect(await as(byUri).health.check({}).catch(statusOf)).toMatchObject({
      code: Code.PermissionDenied,
      message: expect.stringMatching(/is not allowed to call grpc\.health\.v1\.Health/),
    });
  });
});
