import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArchiveContentStore } from "../../src/storage/archive-content-store.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { getBytes } from "../../src/storage/object-store.js";
import { S3ObjectStore } from "../../src/storage/s3-object-store.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import { type MotoServer, startMotoServer } from "../support/moto-server.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "../..");
const BUCKET = "wsd-sigkill";
let moto: MotoServer;
let objects: S3ObjectStore;
let work: string;

beforeAll(async () => {
  moto = await startMotoServer();
  objects = new S3ObjectStore({
    endpoint: moto.endpoint,
    region: "us-east-1",
    bucket: BUCKET,
    forcePathStyle: true,
    accessKeyId: "test",
    secretAccessKey: "test",
    createBucket: true,
  });
  work = mkdtempSync(path.join(tmpdir(), "wsd-sigkill-"));
});
afterAll(async () => {
  objects?.destroy();
  await moto?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe("a daemon killed with SIGKILL in the middle of an upload", () => {
  it("leaves the previous backup intact and restorable", async () => {
    const store = new ArchiveContentStore(objects);
    const ws = newWorkspace();
    const src = path.join(work, "src");
    mkdirSync(src);
    writeFileSync(path.join(src, "v1.txt"), "version 1\n");
    await store.backup(ws, src);
    const expected = path.join(work, "expected");
    await store.restoreBackup(ws, expected);
    const manifestBefore = await getBytes(objects, `${backupPrefix(ws)}manifest.json`);
    const keysBefore = await listKeys(objects, backupPrefix(ws));

    writeFileSync(path.join(src, "big.bin"), randomBytes(48 * 1024 * 1024));
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(here, "backup-child.ts"),
        moto.endpoint,
        BUCKET,
        src,
        ws.owner,
        ws.metaId,
      ],
      { cwd: appDir, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    const exited = once(child, "exit");
    let out = "";
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (out.includes("uploading")) resolve();
        if (out.includes("done")) reject(new Error("child finished before it could be killed"));
      });
      child.on("exit", () => reject(new Error(`child exited early: ${stderr}`)));
    });
    child.kill("SIGKILL");
    const [, signal] = await exited;
    expect(signal).toBe("SIGKILL");

    // the killed upload left an incomplete multipart upload at most, never a visible object
    const pending = await objects.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: backupPrefix(ws) }),
    );
    expect((pending.Uploads ?? []).length).toBeGreaterThanOrEqual(1);
    expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(manifestBefore);
    expect(await listKeys(objects, backupPrefix(ws))).toEqual(keysBefore);

    await store.restoreBackup(ws, path.join(work, "out"));
    expectSameTree(path.join(work, "out"), expected);

    // and the next backup proceeds normally
    await store.backup(ws, src);
    await store.restoreBackup(ws, path.join(work, "out2"));
    expectSameTree(path.join(work, "out2"), src);
  });
});
