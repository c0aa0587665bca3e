import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parseChunkIndex } from "../../src/chunks/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { getBytes, type PutOptions } from "../../src/storage/object-store.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { isRoot, notRootReason } from "../support/env.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedManifestOf, chunkedStore, packsOf } from "./chunked-store-suite.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const appDir = path.resolve(here, "../..");
const chunker = nativeChunkerOrReason();
const skip = !isRoot ? notRootReason : undefined;
const skipNative = skip ?? ("path" in chunker ? undefined : chunker.reason);
if (skip) console.warn(`local putFile tests skipped (they mount tmpfs): ${skip}`);
else if (skipNative) console.warn(`native chunker putFile tests skipped: ${skipNative}`);

const work = useWorkDir("wsd-put-file-root-");

/** Runs `fn` with a tmpfs of `size` mounted at `dir`. */
async function withTmpfs<T>(dir: string, size: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
  try {
    return await fn();
  } finally {
    execFileSync("umount", [dir]);
  }
}

// (toEqual walks a Buffer byte by byte: seconds for a few MiB)
const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

/** Files (not directories) below `dir`, relative. */
const filesBelow = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((p) => statSync(path.join(dir, p)).isFile())
    .sort();

describe.skipIf(skip !== undefined)(
  "LocalDirectoryObjectStore.putFile across file systems (root)",
  () => {
    it("copies a file from another file system in the kernel, then publishes it like a put", async () => {
      await withTmpfs(work.join("other-fs"), "16m", async () => {
        const store = new LocalDirectoryObjectStore(work.join("store"));
        const file = work.join("other-fs", "pack-0.zst");
        const bytes = randomBytes(3 * 1024 * 1024);
        writeFileSync(file, bytes, { mode: 0o600 });

        const { size } = await store.putFile("chunks/store/packs/p.pack", file);

        expect(size).toBe(bytes.length);
        expect(sha256(await getBytes(store, "chunks/store/packs/p.pack"))).toBe(sha256(bytes));
        const object = work.join("store/chunks/store/packs/p.pack");
        expect(statSync(object).ino).not.toBe(statSync(file).ino);
        expect(statSync(object).mode & 0o777).toBe(0o600);
        expect(filesBelow(work.join("store"))).toEqual(["chunks/store/packs/p.pack"]);
      });
    });

    it("a full disk during the copy fails like a put does: nothing published, no temp file", async () => {
      await withTmpfs(work.join("small"), "1m", async () => {
        const store = new LocalDirectoryObjectStore(work.join("small"));
        const file = work.join("pack-0.zst");
        const bytes = randomBytes(3 * 1024 * 1024);
        writeFileSync(file, bytes, { mode: 0o600 });

        const fromFile = await store
          .putFile("chunks/store/packs/p.pack", file)
          .catch((e: unknown) => e);
        const fromStream = await store
          .put("chunks/store/packs/q.pack", Readable.from([bytes]))
          .catch((e: unknown) => e);

        expect((fromFile as NodeJS.ErrnoException).code).toBe("ENOSPC");
        expect((fromFile as Error).name).toBe((fromStream as Error).name);
        expect((fromFile as NodeJS.ErrnoException).code).toBe(
          (fromStream as NodeJS.ErrnoException).code,
        );
        expect(await listKeys(store, "")).toEqual([]);
        expect(filesBelow(work.join("small"))).toEqual([]);
        expect(sha256(readFileSync(file))).toBe(sha256(bytes));
      });
    });
  },
);

/** A local store that records, per pack published, whether the object is the chunker's file. */
class RecordingStore extends LocalDirectoryObjectStore {
  readonly renamed: string[] = [];
  readonly copied: string[] = [];
  readonly streamed: string[] = [];
  override async putFile(key: string, file: string, options?: PutOptions) {
    const inode = statSync(file).ino;
    const done = await super.putFile(key, file, options);
    const object = path.join(this.root, ...key.split("/"));
    (statSync(object).ino === inode ? this.renamed : this.copied).push(key);
    return done;
  }
  override put(key: string, body: Readable, options?: PutOptions) {
    if (key.endsWith(".pack")) this.streamed.push(key);
    return super.put(key, body, options);
  }
}

describe.skipIf(skipNative !== undefined)(
  "packs of the native chunker on a local store (root)",
  () => {
    const chunkerPath = "path" in chunker ? chunker.path : "";

    it("are staged on the store's file system and published by a rename, not copied through the daemon", async () => {
      const objects = new RecordingStore(work.join("store"));
      const src = work.join("src");
      buildFullTree(src, { largeBytes: 5_000_000 });
      const { store } = chunkedStore(objects, { chunkerPath });
      const ws = newWorkspace();

      await store.backup(ws, src);

      const manifest = await chunkedManifestOf(store, ws);
      const index = parseChunkIndex(await getBytes(objects, manifest.indexKey), manifest.indexKey);
      expect(index.packs.length).toBeGreaterThan(1);
      expect(objects.renamed.sort()).toEqual(index.packs.map((p) => p.key).sort());
      expect(objects.copied).toEqual([]);
      expect(objects.streamed).toEqual([]);
      // the backup's pack directory is gone from the staging directory
      expect(readdirSync((await objects.files.staging?.()) ?? "")).toEqual([]);
      await store.restoreBackup(ws, work.join("back"));
      expectSameTree(work.join("back"), src);
    });

    it("a crash between a pack's rename and the index's publication: the backup before stays, the next start sweeps the staged packs, GC takes the orphan after the grace", async () => {
      const root = work.join("store");
      const objects = new LocalDirectoryObjectStore(root);
      const GRACE_MS = 1500;
      const { store } = chunkedStore(objects, { chunkerPath, orphanGraceMs: GRACE_MS });
      const ws = newWorkspace();
      const src = work.join("src");
      mkdirSync(src);
      writeFileSync(path.join(src, "kept.bin"), randomBytes(2 * 1024 * 1024));
      await store.backup(ws, src);
      const manifestBefore = await getBytes(objects, `${backupPrefix(ws)}manifest.json`);
      const packsBefore = await packsOf(objects, ws);
      mkdirSync(work.join("before"));
      execFileSync("cp", ["-a", `${src}/.`, work.join("before")]);
      // the child's backup has many packs to write: it stops after the first
      writeFileSync(path.join(src, "new.bin"), randomBytes(8 * 1024 * 1024));

      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          path.join(here, "pack-crash-child.ts"),
          root,
          chunkerPath,
          src,
          ws.owner,
          ws.metaId,
        ],
        { cwd: appDir, stdio: ["ignore", "pipe", "pipe"] },
      );
      let out = "";
      let stderr = "";
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      const exited = once(child, "exit");
      const published = await new Promise<string>((resolve, reject) => {
        child.stdout.on("data", (b: Buffer) => {
          out += b.toString();
          const m = /published (\S+)\n/.exec(out);
          if (m?.[1]) resolve(m[1]);
        });
        child.on("exit", () =>
          reject(new Error(`child ended before publishing a pack: ${stderr}`)),
        );
      });
      child.kill("SIGKILL");
      await exited;
      const childStaging = /staging (\S+)\n/.exec(out)?.[1] ?? "";

      // the pack (and any renamed meanwhile) is in the store, and no index names it; the
      // published backup is the one from before
      const orphans = (await packsOf(objects, ws)).filter((k) => !packsBefore.includes(k));
      expect(orphans).toContain(published);
      expect(await packsOf(objects, ws)).toEqual(expect.arrayContaining(packsBefore));
      expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(manifestBefore);
      await store.restoreBackup(ws, work.join("restored"));
      expectSameTree(work.join("restored"), work.join("before"));
      // the dead child's staged packs wait for the next start, which removes them
      expect(readdirSync(childStaging).length).toBeGreaterThan(0);
      await new LocalDirectoryObjectStore(root).files.staging?.();
      expect(existsSync(childStaging)).toBe(false);
      // within the grace the sweep keeps the orphan (it could be a live writer's); past it, not
      await store.sweep(60 * 60 * 1000);
      expect(await packsOf(objects, ws)).toContain(published);
      await new Promise((r) => setTimeout(r, GRACE_MS + 200));
      await store.sweep(GRACE_MS);
      expect(await packsOf(objects, ws)).toEqual(packsBefore);
      await store.restoreBackup(ws, work.join("restored-after-sweep"));
      expectSameTree(work.join("restored-after-sweep"), work.join("before"));
    });
  },
);
