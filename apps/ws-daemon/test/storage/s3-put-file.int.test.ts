import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import type http from "node:http";
import path from "node:path";
import { HeadObjectCommand, ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { ObjectSourceFileError, type S3ObjectStoreConfig } from "../../src/storage/index.js";
import { getBytes } from "../../src/storage/object-store.js";
import { useWorkDir } from "../archive/work-dir.js";
import { listKeys } from "./content-store-suite.js";
import { FaultProxy } from "./fault-proxy.js";
import { useMotoS3 } from "./moto-s3.js";

const BUCKET = "wsd-put-file";
const moto = useMotoS3({ bucket: BUCKET, partSize: 5 * 1024 * 1024 });
let proxy: FaultProxy;
const s3 = (overrides: Partial<S3ObjectStoreConfig> = {}) =>
  moto.store({ endpoint: proxy.endpoint, ...overrides });

beforeAll(async () => {
  proxy = new FaultProxy(moto.endpoint);
  await proxy.start();
});
afterAll(async () => {
  await proxy?.stop();
});
beforeEach(() => {
  proxy.faults.length = 0;
});

const work = useWorkDir("wsd-s3-put-file-");
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const isPackPut = (req: http.IncomingMessage) =>
  req.method === "PUT" && /\.pack(\?|$)/.test(req.url ?? "");

function packFile(bytes: number): { file: string; data: Buffer } {
  mkdirSync(work.join("packs"), { recursive: true });
  const file = work.join("packs", `pack-${bytes}.zst`);
  const data = randomBytes(bytes);
  writeFileSync(file, data, { mode: 0o600 });
  return { file, data };
}

describe("S3ObjectStore.putFile", () => {
  it("stores the file in one streamed PUT with its length and content type, and leaves the file", async () => {
    const store = s3();
    const { file, data } = packFile(6 * 1024 * 1024 + 7);
    const seen: string[] = [];
    proxy.add({
      match: (req) => {
        const writes = req.method === "PUT" || req.method === "POST";
        if (writes && req.url?.includes(".pack"))
          seen.push(`${req.method} ${req.headers["content-length"]}`);
        return false;
      },
      action: "drop",
    });

    const { size } = await store.putFile("chunks/store/packs/a.pack", file, {
      contentType: "application/octet-stream",
    });

    expect(size).toBe(data.length);
    expect(sha256(await getBytes(store, "chunks/store/packs/a.pack"))).toBe(sha256(data));
    const head = await store.client.send(
      new HeadObjectCommand({ Bucket: BUCKET, Key: "chunks/store/packs/a.pack" }),
    );
    expect(head.ContentType).toBe("application/octet-stream");
    // one request, not a multipart upload of 5 MiB parts
    expect(seen).toEqual([`PUT ${data.length}`]);
    expect(existsSync(file)).toBe(true);
  });

  it("retries a PUT whose connection drops or that is throttled, from a fresh read of the file", async () => {
    const store = s3();
    const { file, data } = packFile(2 * 1024 * 1024);
    const dropped = proxy.add({ match: isPackPut, action: "drop" });
    const throttled = proxy.add({ match: isPackPut, action: "503" });

    await store.putFile("chunks/store/packs/b.pack", file);

    expect(dropped.fired).toBe(1);
    expect(throttled.fired).toBe(1);
    expect(sha256(await getBytes(store, "chunks/store/packs/b.pack"))).toBe(sha256(data));
  });

  it("gives up after maxAttempts, leaving no object", async () => {
    const store = s3({ maxAttempts: 2 });
    const { file } = packFile(1024 * 1024);
    proxy.add({ match: isPackPut, action: "503", times: 2 });

    await expect(store.putFile("chunks/store/packs/c.pack", file)).rejects.toThrow();

    expect(await listKeys(store, "chunks/store/packs/c")).toEqual([]);
  });

  it("sends a file larger than singlePutMaxBytes as a multipart upload", async () => {
    const store = s3({ singlePutMaxBytes: 5 * 1024 * 1024 });
    const { file, data } = packFile(11 * 1024 * 1024);
    let parts = 0;
    proxy.add({
      match: (req) => {
        if (isPackPut(req) && req.url?.includes("partNumber=")) parts++;
        return false;
      },
      action: "drop",
    });

    await store.putFile("chunks/store/packs/d.pack", file);

    expect(parts).toBe(3);
    expect(sha256(await getBytes(store, "chunks/store/packs/d.pack"))).toBe(sha256(data));
    const pending = await store.client.send(
      new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "chunks/" }),
    );
    expect(pending.Uploads ?? []).toEqual([]);
  });

  it("refuses a link given as the file, uploading nothing", async () => {
    const store = s3();
    const secret = work.join("secret");
    writeFileSync(secret, "host file\n");
    const link = path.join(work.path, "pack-0.zst");
    symlinkSync(secret, link);

    const err = await store.putFile("chunks/store/packs/e.pack", link).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ObjectSourceFileError);
    expect(await listKeys(store, "chunks/store/packs/e")).toEqual([]);
    expect(readFileSync(secret, "utf8")).toBe("host file\n");
  });
});
