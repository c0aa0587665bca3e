import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import {
  getBytes,
  InvalidObjectKeyError,
  ObjectNotFoundError,
} from "../../src/storage/object-store.js";
import { defineContentStoreSuite, listKeys } from "./content-store-suite.js";
import { backupThenFail } from "./local-backup-failure.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-local-store-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

defineContentStoreSuite("a local directory", () => ({
  objects: () => new LocalDirectoryObjectStore(root),
}));

describe("LocalDirectoryObjectStore", () => {
  it("puts atomically: a failed body leaves neither the object nor a temp file", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "atomic"));
    async function* failing() {
      yield Buffer.from("partial");
      throw new Error("boom");
    }
    await expect(store.put("a/b/obj", Readable.from(failing()))).rejects.toThrow("boom");
    expect(await store.head("a/b/obj")).toBeUndefined();
    expect(readdirSync(path.join(root, "atomic/a/b"))).toEqual([]);
    await store.put("a/b/obj", Readable.from([Buffer.from("0123456789")]));
    expect((await getBytes(store, "a/b/obj", { range: { start: 2, end: 4 } })).toString()).toBe(
      "234",
    );
    expect(await listKeys(store, "a/")).toEqual(["a/b/obj"]);
    await store.delete("a/b/obj");
    await store.delete("a/b/obj");
    await expect(store.get("a/b/obj")).rejects.toBeInstanceOf(ObjectNotFoundError);
  });

  it("reads no object through a link: neither a linked file nor a linked directory on the way", async () => {
    // the attack: whoever can write into the store's directory links an object (or a directory
    // above it) to a file outside the store, and a restore would read that file as the object
    const storeRoot = path.join(root, "links");
    const store = new LocalDirectoryObjectStore(storeRoot);
    await store.put("a/real", Readable.from([Buffer.from("inside")]));
    const outside = path.join(root, "links-outside");
    mkdirSync(path.join(outside, "dir"), { recursive: true });
    writeFileSync(path.join(outside, "secret"), "outside the store");
    writeFileSync(path.join(outside, "dir", "secret"), "outside the store");
    symlinkSync(path.join(outside, "secret"), path.join(storeRoot, "a", "linked"));
    symlinkSync(path.join(outside, "dir"), path.join(storeRoot, "b"));
    for (const key of ["a/linked", "b/secret"]) {
      await expect(getBytes(store, key)).rejects.toThrow();
      await expect(getBytes(store, key, { range: { start: 0, end: 2 } })).rejects.toThrow();
      await expect(store.files.open(key)).rejects.toThrow();
    }
    expect((await getBytes(store, "a/real")).toString()).toBe("inside");
    // a store whose root itself is reached through a link works as before
    symlinkSync(storeRoot, path.join(root, "links-alias"));
    const alias = new LocalDirectoryObjectStore(path.join(root, "links-alias"));
    expect((await getBytes(alias, "a/real")).toString()).toBe("inside");
  });

  it("sweeps temp files of writers that died, once older than the cutoff", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "sweep"));
    await store.put("workspaces/o/m/backup/full/manifest.json", Readable.from([Buffer.from("{}")]));
    const dir = path.join(root, "sweep/workspaces/o/m/backup/full");
    const stale = path.join(dir, ".tmp-data-a.tar.zst-0123456789ab");
    const inFlight = path.join(dir, ".tmp-data-b.tar.zst-ba9876543210");
    writeFileSync(stale, "partial");
    const dayAgo = new Date(Date.now() - 24 * 60 * 60 * 1000);
    utimesSync(stale, dayAgo, dayAgo);
    writeFileSync(inFlight, "still being written");
    expect(await store.sweepIncomplete("workspaces/", new Date(Date.now() - 60 * 60 * 1000))).toBe(
      1,
    );
    expect(readdirSync(dir).sort()).toEqual([path.basename(inFlight), "manifest.json"]);
    expect(await store.sweepIncomplete("elsewhere/", new Date())).toBe(0);
  });

  it("refuses keys that could leave the root", async () => {
    const store = new LocalDirectoryObjectStore(path.join(root, "keys"));
    for (const key of ["../x", "a/../../x", "/etc/passwd", "a//b", ".hidden", "a/./b", ""]) {
      await expect(store.head(key), key).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
  });
});

/**
 * The local store's own path: zstd writes the archive file itself and the daemon hashes it as it
 * grows. Failures there must leave the previous backup and no temp file, like a failed put (the
 * full-disk case needs a tmpfs mount: local-content-store.int.test.ts).
 */
describe("local backups written by zstd directly", () => {
  it("a zstd killed mid-write fails the backup and leaves the previous one", async () => {
    const fakeZstd = path.join(root, "dying-zstd");
    writeFileSync(fakeZstd, "#!/bin/sh\nhead -c 300000 /dev/urandom\nkill -9 $$\n");
    chmodSync(fakeZstd, 0o755);
    const storeRoot = path.join(root, "killed");
    const err = await backupThenFail(
      root,
      storeRoot,
      () =>
        new ArchiveContentStore(new LocalDirectoryObjectStore(storeRoot), { zstdPath: fakeZstd }),
    );
    expect(err).toMatchObject({
      message: expect.stringMatching(/^zstd compression failed \(SIGKILL\)/),
    });
  });
});

/**
 * Finding 7 of issue 17: a first backup creates its directories; unless their parents are
 * fsynced, a power loss can take the new directory, and the manifest in it, although put()
 * resolved. Observed through the store's directory sync.
 */
describe("directories the local store creates are made durable", () => {
  const recordingStore = (storeRoot: string, hold?: Promise<void>) => {
    const synced: string[] = [];
    const store = new LocalDirectoryObjectStore(storeRoot, {
      syncDirectory: async (dir) => {
        if (hold && dir === storeRoot) await hold;
        synced.push(path.relative(root, dir) || ".");
      },
    });
    return { store, synced };
  };
  const body = () => Readable.from([Buffer.from("{}")]);

  it("fsyncs the parent of every directory a put creates, and the key's directory", async () => {
    const storeRoot = path.join(root, "durable");
    const { store, synced } = recordingStore(storeRoot);
    await store.put("workspaces/o/m/backup/full/manifest.json", body());
    // parents of the new directories, deepest first, then the key's directory after the rename
    expect(synced).toEqual([
      "durable/workspaces/o/m/backup",
      "durable/workspaces/o/m",
      "durable/workspaces/o",
      "durable/workspaces",
      "durable",
      ".",
      "durable/workspaces/o/m/backup/full",
    ]);
    synced.length = 0;
    await store.put("workspaces/o/m/backup/full/data.tar.zst", body());
    expect(synced).toEqual(["durable/workspaces/o/m/backup/full"]);
    await store.put("workspaces/o/m/snapshots/s/manifest.json", body());
    expect(synced).toEqual([
      "durable/workspaces/o/m/backup/full",
      "durable/workspaces/o/m/snapshots",
      "durable/workspaces/o/m",
      "durable/workspaces/o/m/snapshots/s",
    ]);
  });

  it("a put into a directory another put just created waits until that one is durable", async () => {
    const storeRoot = path.join(root, "racing");
    let release = () => {};
    const hold = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { store, synced } = recordingStore(storeRoot, hold);
    const first = store.put("a/b/one", body());
    // the first put is now fsyncing the new directories' parents, held at the store root
    await new Promise((resolve) => setTimeout(resolve, 50));
    let secondDone = false;
    const second = store.put("a/b/two", body()).then(() => {
      secondDone = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(secondDone).toBe(false);
    release();
    await Promise.all([first, second]);
    expect(synced).toContain("racing");
  });
});
