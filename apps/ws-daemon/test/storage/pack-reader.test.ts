import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ContentCorruptError } from "../../src/platform/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/local-object-store.js";
import { loadPack } from "../../src/storage/pack-reader.js";

let dir: string;
let store: LocalDirectoryObjectStore;
const raw = Buffer.from("chunk bytes ".repeat(5000));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "wsd-pack-reader-"));
  store = new LocalDirectoryObjectStore(join(dir, "store"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const putPack = async (key: string, body: Buffer) => {
  await store.put(key, Readable.from([body]));
  return { key, rawSize: raw.length, size: body.length };
};
const compressed = () => execFileSync("zstd", ["-q", "-c"], { input: raw });

/**
 * A zstd stand-in: its first `lost` runs close their output at once and then linger past the
 * reader's wait for an exit status, as the zstd of the known "lost exit" stall looks to the
 * daemon (docs/chunked-backups.md); later runs are the real zstd.
 */
const flakyZstd = (lost: number): { path: string; runs: () => number } => {
  const counter = join(dir, "runs");
  writeFileSync(counter, "");
  const path = join(dir, "zstd-flaky");
  writeFileSync(
    path,
    `#!/bin/sh
echo run >> ${counter}
if [ "$(wc -l < ${counter})" -le ${lost} ]; then
  exec >&- 2>&-
  sleep 7
  exit 0
fi
exec zstd "$@"
`,
  );
  chmodSync(path, 0o755);
  return { path, runs: () => readFileSync(counter, "utf8").split("\n").filter(Boolean).length };
};

describe("loadPack", () => {
  it("reads a pack again when zstd's output ended short and its exit never came", async () => {
    const pack = await putPack("packs/a.pack", compressed());
    const zstd = flakyZstd(1);
    const { raw: read } = await loadPack(store, pack, { zstdPath: zstd.path });
    expect(read.equals(raw)).toBe(true);
    expect(zstd.runs()).toBe(2);
  }, 30_000);

  it("gives up after three such reads, naming what it saw", async () => {
    const pack = await putPack("packs/b.pack", compressed());
    const zstd = flakyZstd(3);
    const failure = await loadPack(store, pack, { zstdPath: zstd.path }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ContentCorruptError);
    expect(String(failure)).toMatch(/decompressing to 0.*status no exit status/);
    expect(zstd.runs()).toBe(3);
  }, 60_000);

  it("does not retry a pack that zstd refuses: a damaged pack fails at once", async () => {
    const damaged = compressed();
    damaged.fill(0x41, 4, damaged.length - 4);
    const pack = await putPack("packs/c.pack", damaged);
    const zstd = flakyZstd(0);
    const failure = await loadPack(store, pack, { zstdPath: zstd.path }).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(ContentCorruptError);
    expect(String(failure)).toMatch(/cannot be decompressed/);
    expect(zstd.runs()).toBe(1);
    expect(existsSync(join(dir, "store", "packs", "c.pack"))).toBe(true);
  });
});
