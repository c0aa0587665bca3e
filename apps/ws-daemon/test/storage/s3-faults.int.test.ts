import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ArchiveContentStore, type S3ObjectStoreConfig } from "../../src/storage/index.js";
import { getBytes } from "../../src/storage/object-store.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { newWorkspace } from "./content-store-suite.js";
import { FaultProxy, isCompleteMultipart, isDataGet, isDataPut } from "./fault-proxy.js";
import { useMotoS3 } from "./moto-s3.js";
import { FailingPutStore } from "./object-store-faults.js";

const BUCKET = "wsd-faults";
const moto = useMotoS3({ bucket: BUCKET, partSize: 5 * 1024 * 1024, queueSize: 2 });
let proxy: FaultProxy;
const s3 = (endpoint: string, overrides: Partial<S3ObjectStoreConfig> = {}) =>
  moto.store({ endpoint, ...overrides });

beforeAll(async () => {
  proxy = new FaultProxy(moto.endpoint);
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
});

const work = useWorkDir("wsd-s3-faults-");
let src: string;
beforeEach(() => {
  src = work.join("src");
  mkdirSync(path.join(src, "dir"), { recursive: true });
  // incompressible, so the archive needs 3 parts of 5 MiB
  writeFileSync(path.join(src, "random.bin"), randomBytes(12 * 1024 * 1024));
  writeFileSync(path.join(src, "dir/a.txt"), "a\n");
  proxy.faults.length = 0;
});

describe("S3 transient errors are retried", () => {
  it("survives 503 SlowDown on an upload part and on the download", async () => {
    const store = new ArchiveContentStore(s3(proxy.endpoint));
    const ws = newWorkspace();
    const putFault = proxy.add({ match: isDataPut, action: "503" });
    const getFault = proxy.add({ match: isDataGet, action: "503" });
    await store.backup(ws, src);
    await store.restoreBackup(ws, work.join("out"));
    expect(putFault.fired).toBe(1);
    expect(getFault.fired).toBe(1);
    expectSameTree(work.join("out"), src);
  });

  it("survives dropped connections during upload parts and the multipart completion", async () => {
    const store = new ArchiveContentStore(s3(proxy.endpoint));
    const ws = newWorkspace();
    const partFault = proxy.add({ match: isDataPut, action: "drop", times: 2 });
    const completeFault = proxy.add({ match: isCompleteMultipart, action: "drop" });
    await store.backup(ws, src);
    expect(partFault.fired).toBe(2);
    expect(completeFault.fired).toBe(1);
    await store.restoreBackup(ws, work.join("out"));
    expectSameTree(work.join("out"), src);
  });

  it("resumes a download whose connection drops mid-body", async () => {
    const store = new ArchiveContentStore(s3(proxy.endpoint));
    const ws = newWorkspace();
    await store.backup(ws, src);
    const cut = proxy.add({
      match: isDataGet,
      action: { cutResponseAfter: 3 * 1024 * 1024 },
      times: 2,
    });
    await store.restoreBackup(ws, work.join("out"));
    expect(cut.fired).toBe(2);
    expectSameTree(work.join("out"), src);
  });

  it("fails after persistent errors, leaving the previous backup and no pending multipart upload", async () => {
    const direct = s3(moto.endpoint);
    const ws = newWorkspace();
    const good = new ArchiveContentStore(direct);
    await good.backup(ws, src);
    const manifestKey = `workspaces/${ws.owner}/${ws.metaId}/backup/full/manifest.json`;
    const before = await getBytes(direct, manifestKey);
    await good.restoreBackup(ws, work.join("expected"));

    const flaky = new ArchiveContentStore(s3(proxy.endpoint, { maxAttempts: 2 }));
    proxy.add({ match: isDataPut, action: "503", times: 1000 });
    writeFileSync(path.join(src, "dir/b.txt"), "b\n");
    await expect(flaky.backup(ws, src)).rejects.toMatchObject({
      $metadata: { httpStatusCode: 503 },
    });
    proxy.faults.length = 0;

    // an upload failing inside our own stream aborts the multipart upload too
    const failing = new ArchiveContentStore(
      new FailingPutStore(direct, 7 * 1024 * 1024, (k) => k.endsWith(".tar.zst")),
    );
    await expect(failing.backup(ws, src)).rejects.toThrow(/injected failure/);

    expect(await getBytes(direct, manifestKey)).toEqual(before);
    const uploads = await direct.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: `workspaces/${ws.owner}/` }),
    );
    expect(uploads.Uploads ?? []).toEqual([]);
    await good.restoreBackup(ws, work.join("out"));
    expectSameTree(work.join("out"), work.join("expected"));
  });
});
