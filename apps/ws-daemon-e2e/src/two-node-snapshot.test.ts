import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { SnapshotState, WorkspaceContentState } from "@ws-daemon/api";
import { Network, type StartedNetwork } from "testcontainers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { cleanUp, disposeQuietly } from "./support/cleanup.js";
import {
  createWorkingArea,
  type RunningDaemon,
  removeWorkingArea,
  startDaemon,
} from "./support/daemon-container.js";
import { type MotoServer, networkGateway, startMotoServer } from "./support/moto.js";
import { writeSampleContent } from "./support/sample-content.js";
import { ownedByWorkspaceUser, treeManifest } from "./support/tree-manifest.js";
import { emptyInitializer, uniqueWorkspaceId } from "./support/workspace-ids.js";

const image = inject("daemonImage");

/** Two nodes (daemon containers with their own working areas) sharing one S3 bucket. */
describe.skipIf(inject("placeholderBundle"))("snapshot on node A, restored on node B", () => {
  const bucket = `e2e-nodes-${randomBytes(4).toString("hex")}`;
  const onA = uniqueWorkspaceId("node-a");
  const onB = uniqueWorkspaceId("node-b");
  let network: StartedNetwork;
  let moto: MotoServer;
  const areas: string[] = [];
  let nodeA: RunningDaemon;
  let nodeB: RunningDaemon;
  let snapshotUrl: string;

  beforeAll(async () => {
    network = await new Network().start();
    moto = await startMotoServer(await networkGateway(network));
    const s3 = { endpoint: moto.endpoint, bucket };
    for (let i = 0; i < 2; i++) areas.push(await createWorkingArea());
    // One after the other: both create the bucket at start.
    nodeA = await startDaemon({ image, workingArea: areas[0] as string, network, s3 });
    nodeB = await startDaemon({ image, workingArea: areas[1] as string, network, s3 });
  });

  afterAll(async () => {
    await cleanUp(
      () => disposeQuietly(nodeA, [onA]),
      () => disposeQuietly(nodeB, [onB]),
      () => nodeA?.container.stop(),
      () => nodeB?.container.stop(),
      () => moto?.stop(),
      () => network?.stop(),
      ...areas.map((area) => () => removeWorkingArea(area)),
    );
  });

  it("takes a snapshot on A", async () => {
    const { content } = nodeA.clients();
    await content.initWorkspace({
      id: onA,
      metadata: { owner: "e2e", metaId: "two-nodes" },
      initializer: emptyInitializer,
    });
    await writeSampleContent(nodeA.contentDir(onA), "node A");
    snapshotUrl = (await content.takeSnapshot({ id: onA })).url;
    expect(snapshotUrl).not.toBe("");
  });

  it("reports an asynchronous snapshot's progress until it is done", async () => {
    const { content } = nodeA.clients();
    const { url } = await content.takeSnapshot({ id: onA, returnImmediately: true });
    expect(url).not.toBe("");
    expect(url).not.toBe(snapshotUrl);
    let progress: { state: SnapshotState; error: string; bytes: bigint } | undefined;
    for (let i = 0; i < 100; i++) {
      const state = await content.getWorkspaceState({ id: onA });
      progress = state.snapshots.find((s) => s.url === url);
      if (progress && progress.state !== SnapshotState.RUNNING) break;
      await sleep(200);
    }
    expect(progress?.error).toBe("");
    expect(progress?.state).toBe(SnapshotState.DONE);
    expect(progress?.bytes).toBeGreaterThan(0n);
  });

  it("restores the snapshot as a new workspace on B, identical", async () => {
    const { content } = nodeB.clients();
    expect((await content.isWorkspaceExists({ id: onA })).exists).toBe(false);
    await content.initWorkspace({
      id: onB,
      metadata: { owner: "e2e", metaId: "two-nodes" },
      initializer: { spec: { case: "snapshot", value: { snapshot: snapshotUrl } } },
    });
    const state = await content.getWorkspaceState({ id: onB });
    expect(state.state).toBe(WorkspaceContentState.AVAILABLE);
    // identical, except that everything restored belongs to the workspace user (issue 17)
    expect(await treeManifest(nodeB.contentDir(onB))).toEqual(
      ownedByWorkspaceUser(await treeManifest(nodeA.contentDir(onA))),
    );
  });
});
