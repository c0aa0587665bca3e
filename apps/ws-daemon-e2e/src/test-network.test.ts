import { Network, type StartedNetwork, type StartedTestContainer, Wait } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { execOk, idleContainer, labelledContainer } from "./support/containers.js";
import { type MotoServer, networkGateway, startMotoServer } from "./support/moto.js";

const baseImage = inject("baseImage");

/** A node one-liner that serves `body` on :8080 and logs when it listens. */
const serve = (body: string): string[] => [
  "node",
  "-e",
  `require("node:http").createServer((_, res) => res.end(${JSON.stringify(body)}))` +
    `.listen(8080, () => console.log("serving"));` +
    ' process.on("SIGTERM", () => process.exit(0));',
];

describe("test network plumbing", () => {
  let network: StartedNetwork;
  let moto: MotoServer;
  let peer: StartedTestContainer;
  let client: StartedTestContainer;

  beforeAll(async () => {
    network = await new Network().start();
    moto = await startMotoServer(await networkGateway(network));
    peer = await labelledContainer(baseImage)
      .withNetwork(network)
      .withNetworkAliases("peer")
      .withEntrypoint(serve("hello from peer"))
      .withWaitStrategy(Wait.forLogMessage("serving"))
      .start();
    client = await idleContainer(baseImage).withNetwork(network).start();
  });

  afterAll(async () => {
    await client?.stop();
    await peer?.stop();
    await moto?.stop();
    await network?.stop();
  });

  it("reaches another container by its network alias", async () => {
    const body = await execOk(client, [
      "node",
      "-e",
      'fetch("http://peer:8080/").then((r) => r.text()).then((t) => process.stdout.write(t))',
    ]);
    expect(body).toBe("hello from peer");
  });

  it("reaches moto on the host through the network gateway (a bucket created inside is seen outside)", async () => {
    const bucket = `e2e-${Date.now()}`;
    await execOk(client, [
      "node",
      "-e",
      `fetch(${JSON.stringify(`${moto.endpoint}/${bucket}`)}, { method: "PUT" })` +
        `.then((r) => { if (!r.ok) { console.error(r.status); process.exit(1); } })`,
    ]);
    const listing = await (await fetch(`${moto.endpoint}/`)).text();
    expect(listing).toContain(`<Name>${bucket}</Name>`);
  });
});
