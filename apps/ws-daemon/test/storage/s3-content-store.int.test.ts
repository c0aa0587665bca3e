import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { ArchiveContentStore, createContentStore, S3ObjectStore } from "../../src/storage/index.js";
import { getBytes, ObjectNotFoundError, putBytes } from "../../src/storage/object-store.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import {
  defineContentStoreSuite,
  listKeys,
  manifestOf,
  newWorkspace,
} from "./content-store-suite.js";
import { useMotoS3 } from "./moto-s3.js";

// not us-east-1: creating the bucket must name its region (LocationConstraint)
const moto = useMotoS3({ region: "eu-central-1", bucket: "wsd-test", partSize: 5 * 1024 * 1024 });
const newStore = moto.store;

defineContentStoreSuite("S3 (moto_server)", () => ({ objects: () => newStore() }));

describe("S3ObjectStore", () => {
  it("aborts multipart uploads that writers which died left open, once older than the cutoff", async () => {
    const s = newStore({ bucket: "wsd-sweep" });
    await putBytes(s, "workspaces/o/m/marker", Buffer.from("x"));
    const start = async (Key: string) => {
      const { UploadId } = await s.client.send(
        new CreateMultipartUploadCommand({ Bucket: "wsd-sweep", Key }),
      );
      await s.client.send(
        new UploadPartCommand({
          Bucket: "wsd-sweep",
          Key,
          UploadId,
          PartNumber: 1,
          Body: Buffer.alloc(1024, 1),
        }),
      );
    };
    await start("workspaces/o/m/backup/full/data-20200101T000000000Z-0badc0de.tar.zst");
    await start("elsewhere/not-ours");
    // ages are judged by the server's Initiated time (moto reports a fixed date in 2010)
    const listed = await s.client.send(new ListMultipartUploadsCommand({ Bucket: "wsd-sweep" }));
    const initiated = listed.Uploads?.find((u) => u.Key?.startsWith("workspaces/"))?.Initiated;
    if (!(initiated instanceof Date)) throw new Error(`moto reported no start date: ${initiated}`);
    expect(await s.sweepIncomplete("workspaces/", initiated)).toBe(0);
    expect(await s.sweepIncomplete("workspaces/", new Date(initiated.getTime() + 1))).toBe(1);
    const left = await s.client.send(new ListMultipartUploadsCommand({ Bucket: "wsd-sweep" }));
    expect((left.Uploads ?? []).map((u) => u.Key)).toEqual(["elsewhere/not-ours"]);
    expect(await listKeys(s, "workspaces/")).toEqual(["workspaces/o/m/marker"]);
  });

  it("does range GETs, listing across pages, idempotent deletes and not-found", async () => {
    const s = newStore({ listPageSize: 3 });
    await putBytes(s, "t/range", Buffer.from("0123456789"));
    expect((await getBytes(s, "t/range", { range: { start: 3, end: 5 } })).toString()).toBe("345");
    expect((await getBytes(s, "t/range", { range: { start: 7 } })).toString()).toBe("789");
    for (let i = 0; i < 11; i++) await putBytes(s, `t/many/k${i}`, Buffer.from("x"));
    expect((await listKeys(s, "t/many/")).length).toBe(11);
    await s.delete("t/range");
    await s.delete("t/range");
    expect(await s.head("t/range")).toBeUndefined();
    await expect(s.get("t/range")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("uploads a >= 20 MiB incompressible archive in multiple parts and restores it", async () => {
    const work = mkdtempSync(path.join(tmpdir(), "wsd-multipart-"));
    try {
      const src = path.join(work, "src");
      mkdirSync(src);
      writeFileSync(path.join(src, "random.bin"), randomBytes(24 * 1024 * 1024));
      writeFileSync(path.join(src, "small.txt"), "small\n");
      const store = createContentStore({ kind: "s3", ...moto.config(), queueSize: 2 });
      if (!(store.objects instanceof S3ObjectStore)) throw new Error("not an S3 store");
      const objects = moto.adopt(store.objects);
      const ws = newWorkspace();
      const res = await store.backup(ws, src);
      expect(res.bytes).toBeGreaterThan(20 * 1024 * 1024);
      const manifest = await manifestOf(store, ws);
      const head = await objects.client.send(
        new HeadObjectCommand({ Bucket: "wsd-test", Key: manifest.dataKey }),
      );
      // multipart ETags are "<md5 of part md5s>-<part count>"
      expect(head.ETag).toMatch(/-[5-9]"$/);
      const other = new ArchiveContentStore(newStore());
      await other.restoreBackup(ws, path.join(work, "out"));
      expectSameTree(path.join(work, "out"), src);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });
});
