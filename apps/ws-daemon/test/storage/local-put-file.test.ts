import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  LocalDirectoryObjectStore,
  ObjectSourceFileError,
  StagingDirectoryError,
} from "../../src/storage/index.js";
import { getBytes } from "../../src/storage/object-store.js";
import { useWorkDir } from "../archive/work-dir.js";
import { listKeys } from "./content-store-suite.js";

const work = useWorkDir("wsd-put-file-");

/** Every entry below `dir` (relative paths), links not followed. */
function entriesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" }).sort();
}

/** A file in a fresh private directory of the store's staging directory, as the chunker makes. */
async function staged(store: LocalDirectoryObjectStore, name: string, bytes: Buffer) {
  const staging = await store.files.staging?.();
  if (!staging) throw new Error("the local store has no staging directory");
  const dir = path.join(staging, "wsd-packs-test");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, name);
  writeFileSync(file, bytes, { mode: 0o600 });
  return { staging, dir, file };
}

describe("LocalDirectoryObjectStore.putFile", () => {
  it("publishes a staged file by a rename: the same file, fsynced in place, timed by its publication, nothing left behind", async () => {
    const synced: string[] = [];
    const store = new LocalDirectoryObjectStore(work.join("store"), {
      syncDirectory: async (dir) => void synced.push(dir),
    });
    const bytes = Buffer.from("pack bytes\n".repeat(1000));
    const { file } = await staged(store, "pack-0.zst", bytes);
    const inode = statSync(file).ino;
    // the chunker wrote it a while ago; the GC must age the object from its publication
    utimesSync(file, new Date(2000, 0, 1), new Date(2000, 0, 1));
    const before = Date.now();

    const { size } = await store.putFile("chunks/store/packs/p1.pack", file);

    expect(size).toBe(bytes.length);
    const object = work.join("store/chunks/store/packs/p1.pack");
    expect(statSync(object).ino).toBe(inode);
    expect(statSync(object).mtimeMs).toBeGreaterThanOrEqual(before - 1000);
    expect(existsSync(file)).toBe(false);
    expect(await getBytes(store, "chunks/store/packs/p1.pack")).toEqual(bytes);
    expect(synced).toContain(path.dirname(object));
    expect(await listKeys(store, "")).toEqual(["chunks/store/packs/p1.pack"]);
    expect(readdirSync(path.dirname(object))).toEqual(["p1.pack"]);
  });

  it("refuses a link given as the file: nothing published, the link's target untouched", async () => {
    const store = new LocalDirectoryObjectStore(work.join("store"));
    const secret = work.join("secret");
    writeFileSync(secret, "not the daemon's to publish\n");
    const { dir } = await staged(store, "unused", Buffer.from("x"));
    const link = path.join(dir, "pack-1.zst");
    symlinkSync(secret, link);

    const err = await store.putFile("chunks/store/packs/p2.pack", link).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ObjectSourceFileError);
    expect((err as ObjectSourceFileError).kind).toBe("failed-precondition");
    expect(await listKeys(store, "")).toEqual([]);
    expect(readFileSync(secret, "utf8")).toBe("not the daemon's to publish\n");
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(entriesBelow(work.join("store/chunks/store/packs"))).toEqual([]);
  });

  it("refuses a file with a second name, which could change the object after its publication", async () => {
    const store = new LocalDirectoryObjectStore(work.join("store"));
    const { file } = await staged(store, "pack-2.zst", Buffer.from("shared\n"));
    linkSync(file, work.join("second-name"));

    const err = await store.putFile("chunks/store/packs/p3.pack", file).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ObjectSourceFileError);
    expect(String(err)).toMatch(/2 names/);
    expect(await listKeys(store, "")).toEqual([]);
    expect(existsSync(file)).toBe(true);
  });

  it("an aborted putFile publishes nothing and leaves no temp file", async () => {
    const store = new LocalDirectoryObjectStore(work.join("store"));
    const { file } = await staged(store, "pack-3.zst", Buffer.from("aborted\n"));
    const abort = new AbortController();
    abort.abort(new Error("backup cancelled"));

    await expect(
      store.putFile("chunks/store/packs/p4.pack", file, { signal: abort.signal }),
    ).rejects.toThrow(/backup cancelled/);

    expect(await listKeys(store, "")).toEqual([]);
    expect(existsSync(work.join("store/chunks"))).toBe(false);
  });

  it("a file elsewhere on the store's file system is published too, and an object it replaces is replaced whole", async () => {
    const store = new LocalDirectoryObjectStore(work.join("store"));
    const other = work.join("elsewhere");
    mkdirSync(other);
    writeFileSync(path.join(other, "a"), "first\n");
    writeFileSync(path.join(other, "b"), "second\n");
    await store.putFile("k/obj", path.join(other, "a"));
    await store.putFile("k/obj", path.join(other, "b"));
    expect((await getBytes(store, "k/obj")).toString()).toBe("second\n");
    expect(readdirSync(work.join("store/k"))).toEqual(["obj"]);
  });
});

describe("the local store's staging directory", () => {
  it("is private (0700, the daemon's) and neither listed as objects nor touched by the temp-file sweep", async () => {
    const store = new LocalDirectoryObjectStore(work.join("store"));
    const { staging, file } = await staged(store, "pack-0.zst", Buffer.from("staged\n"));
    const parent = path.dirname(staging);
    expect(path.dirname(parent)).toBe(work.join("store"));
    for (const dir of [parent, staging]) {
      const st = lstatSync(dir);
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o777).toBe(0o700);
      expect(st.uid).toBe(process.getuid?.());
    }
    expect(await listKeys(store, "")).toEqual([]);
    // a live process's staged files stay, however old
    utimesSync(file, new Date(2000, 0, 1), new Date(2000, 0, 1));
    expect(await store.sweepIncomplete("", new Date())).toBe(0);
    expect(existsSync(file)).toBe(true);
    // a second claim in the same process is the same directory
    expect(await store.files.staging?.()).toBe(staging);
  });

  it("refuses a link planted where the staging directory should be, and writes nothing through it", async () => {
    const root = work.join("store");
    mkdirSync(root);
    const elsewhere = work.join("elsewhere");
    mkdirSync(elsewhere);
    chmodSync(elsewhere, 0o777);
    symlinkSync(elsewhere, path.join(root, ".wsd-staging"));
    const store = new LocalDirectoryObjectStore(root);

    const err = await store.files.staging?.().catch((e: unknown) => e);

    expect(err).toBeInstanceOf(StagingDirectoryError);
    expect((err as StagingDirectoryError).kind).toBe("failed-precondition");
    expect(readdirSync(elsewhere)).toEqual([]);
    expect(lstatSync(elsewhere).mode & 0o777).toBe(0o777);
    // the sweep does not follow it either (this names an ended process of our pid namespace)
    const ended = `${statSync("/proc/self/ns/pid").ino}-${spawnSync("true").pid}-1`;
    const planted = path.join(elsewhere, ended);
    mkdirSync(planted);
    await store.sweepIncomplete("", new Date());
    expect(existsSync(planted)).toBe(true);
  });

  it("removes the staging directories of ended processes (at the next claim and in the sweep); live and unknown ones stay", async () => {
    const root = work.join("store");
    const parent = path.join(root, ".wsd-staging");
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    const ns = statSync("/proc/self/ns/pid").ino;
    const ended = spawnSync("true").pid;
    const ownStart = readFileSync("/proc/self/stat", "utf8").split(") ")[1]?.split(" ")[19];
    const entries = {
      ended: `${ns}-${ended}-123`,
      // this very pid with another start time: an ended process whose pid came back
      reused: `${ns}-${process.pid}-1`,
      live: `${ns}-${process.ppid}-${readFileSync(`/proc/${process.ppid}/stat`, "utf8").split(") ")[1]?.split(" ")[19]}`,
      otherNamespace: `1-${ended}-123`,
      unknown: "not-a-daemon",
    };
    for (const name of Object.values(entries)) {
      mkdirSync(path.join(parent, name, "wsd-packs-x"), { recursive: true });
      writeFileSync(path.join(parent, name, "wsd-packs-x", "pack-0.zst"), "left\n");
    }

    const store = new LocalDirectoryObjectStore(root);
    const own = await store.files.staging?.();

    expect(own).toBe(path.join(parent, `${ns}-${process.pid}-${ownStart}`));
    expect(readdirSync(parent).sort()).toEqual(
      [entries.live, entries.otherNamespace, entries.unknown, path.basename(own ?? "")].sort(),
    );
    // what a process that died after this claim leaves goes in the janitor's sweep
    mkdirSync(path.join(parent, entries.ended));
    expect(await store.sweepIncomplete("workspaces/", new Date(0))).toBe(1);
    expect(existsSync(path.join(parent, entries.ended))).toBe(false);
    expect(existsSync(path.join(parent, entries.live))).toBe(true);
  });
});
