import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { ListMultipartUploadsCommand } from "@aws-sdk/client-s3";
import { describe, expect, it } from "vitest";
import { ArchiveContentStore } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { getBytes } from "../../src/storage/object-store.js";
import { expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";
import { useMotoS3 } from "./moto-s3.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "../..");
const BUCKET = "wsd-sigkill";
const moto = useMotoS3({ bucket: BUCKET });
const work = useWorkDir("wsd-sigkill-");

describe("a daemon killed with SIGKILL in the middle of an upload", () => {
  it("leaves the previous backup intact and restorable", async () => {
    const objects = moto.store();
    const store = new ArchiveContentStore(objects);
    const ws = newWorkspace();
    const src = work.join("src");
    mkdirSync(src);
    writeFileSync(path.join(src, "v1.txt"), "version 1\n");
    await store.backup(ws, src);
    const expected = work.join("expected");
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

    await store.restoreBackup(ws, work.join("out"));
    expectSameTree(work.join("out"), expected);

    // and the next backup proceeds normally
    await store.backup(ws, src);
    await store.restoreBackup(ws, work.join("out2"));
    expectSameTree(work.join("out2"), src);
  });
});
