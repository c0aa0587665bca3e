/**
 * The daemon process killed with SIGKILL in the middle of a backup upload to S3 (moto): after a
 * restart the previous backup is intact and restores byte for byte; the next backup works.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { WorkspaceContentState } from "@ws-daemon/api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnDaemon } from "../support/daemon-process.js";
import { type MotoServer, startMotoServer } from "../support/moto-server.js";

let moto: MotoServer;
let cwd: string;
beforeAll(async () => {
  moto = await startMotoServer();
  cwd = await mkdtemp(path.join(tmpdir(), "wsd-kill-backup-"));
});
afterAll(async () => {
  await moto?.stop();
  if (cwd) await rm(cwd, { recursive: true, force: true });
});

const s3Args = () => [
  "--storage.kind=s3",
  `--storage.endpoint=${moto.endpoint}`,
  "--storage.bucket=wsd-kill",
  "--storage.forcePathStyle=true",
  "--storage.createBucket=true",
  "--storage.accessKeyId=test",
  "--storage.secretAccessKey=test",
];

async function waitForOpenMultipartUpload(endpoint: string, bucket: string): Promise<void> {
  const s3 = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  try {
    for (const until = Date.now() + 30_000; Date.now() < until; ) {
      const open = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket }));
      if ((open.Uploads ?? []).length > 0) return;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error("the backup never opened a multipart upload");
  } finally {
    s3.destroy();
  }
}

describe("SIGKILL during a backup upload", () => {
  it("keeps the previous backup restorable", async () => {
    const metadata = { owner: "o", metaId: "kill" };
    const first = await spawnDaemon(cwd, s3Args());
    const { content } = first.clients();
    await content.initWorkspace({
      id: "ws-1",
      metadata,
      initializer: { spec: { case: "empty", value: {} } },
    });
    const dir = path.join(cwd, ".ws-daemon-data/workspaces/ws-1");
    await writeFile(path.join(dir, "v1.txt"), "the good backup\n");
    await content.backupWorkspace({ id: "ws-1" });

    // Incompressible content large enough that the upload is still running when the kill lands.
    await writeFile(path.join(dir, "v1.txt"), "newer content that never made it\n");
    await writeFile(path.join(dir, "big.bin"), randomBytes(96 * 1024 * 1024));
    const pending = content.backupWorkspace({ id: "ws-1" }).then(
      () => "finished",
      () => "failed",
    );
    // Kill while the data is still being uploaded (a multipart upload is open), before any
    // manifest can name it: a fixed delay raced the upload on a fast machine.
    await waitForOpenMultipartUpload(moto.endpoint, "wsd-kill");
    first.child.kill("SIGKILL");
    await first.exited;
    expect(await pending).toBe("failed");

    const second = await spawnDaemon(cwd, s3Args());
    try {
      const c = second.clients().content;
      expect((await c.getWorkspaceState({ id: "ws-1" })).state).toBe(
        WorkspaceContentState.AVAILABLE,
      );
      await c.initWorkspace({
        id: "ws-2",
        metadata,
        initializer: { spec: { case: "backup", value: {} } },
      });
      const restored = path.join(cwd, ".ws-daemon-data/workspaces/ws-2");
      expect(await readFile(path.join(restored, "v1.txt"), "utf8")).toBe("the good backup\n");
      // The interrupted backup left nothing visible; a new one goes through.
      await c.backupWorkspace({ id: "ws-1" });
    } finally {
      second.child.kill("SIGTERM");
      await second.exited;
    }
  });
});
