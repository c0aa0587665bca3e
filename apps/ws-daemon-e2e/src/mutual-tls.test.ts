import {
  createDaemonClients,
  createDaemonTransport,
  HealthCheckResponse_ServingStatus,
  statusOf,
} from "@ws-daemon/api";
import { Wait } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { labelledContainer } from "./support/containers.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
  trustedClientTls,
} from "./support/daemon-container.js";
import { CommandFailedError, docker } from "./support/run-command.js";
import { uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");
const pki = inject("pki");

/**
 * Issue 10: the image serves the node API beyond loopback, so it requires mutual TLS. Every
 * other scenario of the suite talks to it with the run's client certificate; here the clients
 * it must refuse: one without a certificate, one with a certificate of another CA.
 */
describe.skipIf(inject("placeholderBundle"))("the image's node API over mutual TLS", () => {
  let area: string;
  let daemon: RunningDaemon;
  beforeAll(async () => {
    area = await createWorkingArea();
    daemon = await startDaemon({ image, workingArea: area });
  });
  afterAll(async () => {
    await daemon?.container.stop();
    await removeWorkingArea(area);
  });

  const clientsWith = (tls: { ca: string; cert?: string; key?: string }) =>
    createDaemonClients(
      createDaemonTransport({ address: daemon.address(), defaultTimeoutMs: 20_000, tls }),
    );

  it("answers a client with a certificate of the configured CA", async () => {
    const { health, content } = clientsWith(trustedClientTls());
    expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
    expect((await content.isWorkspaceExists({ id: "nope" })).exists).toBe(false);
  });

  it("refuses a client without a certificate, and nothing happens", async () => {
    const id = uniqueWorkspaceId("anonymous");
    const { content } = clientsWith({ ca: pki.ca });
    const err = await content
      .initWorkspace({
        id,
        metadata: { owner: "e2e", metaId: id },
        initializer: { spec: { case: "empty", value: {} } },
      })
      .catch(statusOf);
    expect(err).toHaveProperty("code");
    expect(String((err as { message?: string }).message)).toMatch(/certificate required/);
    expect((await daemon.clients().content.isWorkspaceExists({ id })).exists).toBe(false);
  });

  it("refuses a client whose certificate another CA signed, and nothing happens", async () => {
    const id = uniqueWorkspaceId("stranger");
    const { content } = clientsWith({
      ca: pki.ca,
      cert: pki.strangerClient.cert,
      key: pki.strangerClient.key,
    });
    const err = await content
      .initWorkspace({
        id,
        metadata: { owner: "e2e", metaId: id },
        initializer: { spec: { case: "empty", value: {} } },
      })
      .catch(statusOf);
    expect(err).toHaveProperty("code");
    // TLS 1.3: the server's verdict on the client certificate arrives after the client's side of
    // the handshake, as an alert ("unknown ca") or as the stream it had opened being reset
    expect(String((err as { message?: string }).message)).toMatch(
      /unknown ca|certificate|stream closed/i,
    );
    expect((await daemon.clients().content.isWorkspaceExists({ id })).exists).toBe(false);
  });

  it("refuses plaintext: an http:// client gets no answer from the TLS port", async () => {
    const { health } = createDaemonClients(
      createDaemonTransport({
        address: daemon.address().replace(/^https:/, "http:"),
        defaultTimeoutMs: 10_000,
      }),
    );
    await expect(health.check({})).rejects.toBeDefined();
  });
});

describe.skipIf(inject("placeholderBundle"))("the image without certificates", () => {
  it("refuses to start: off loopback the node API needs mutual TLS", async () => {
    const failure = await docker(["run", "--rm", "--label", "org.ws-daemon.e2e=true", image]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(CommandFailedError);
    expect((failure as CommandFailedError).exitCode).toBe(2);
    expect((failure as CommandFailedError).stderr).toMatch(
      /listen\.host: "0\.0\.0\.0" is not a loopback address: the node API there requires mutual TLS/,
    );
  });

  it("serves unauthenticated only with WSD_LISTEN__INSECURE=true, and says so", async () => {
    const container = await labelledContainer(image)
      .withPrivilegedMode()
      .withEnvironment({ WSD_LISTEN__INSECURE: "true" })
      .withExposedPorts(8080)
      .withWaitStrategy(Wait.forLogMessage(/ws-daemon listening/))
      .withStartupTimeout(60_000)
      .start();
    try {
      const address = `http://${container.getHost()}:${container.getMappedPort(8080)}`;
      const { health } = createDaemonClients(createDaemonTransport({ address }));
      expect((await health.check({})).status).toBe(HealthCheckResponse_ServingStatus.SERVING);
      const logs = await docker(["logs", container.getId()]);
      expect(logs).toMatch(
        /listen\.insecure: the node API is served off loopback without mutual TLS/,
      );
    } finally {
      await container.stop();
    }
  });
});
