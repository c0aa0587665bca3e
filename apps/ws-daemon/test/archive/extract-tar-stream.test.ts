import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ExtractTarStreamOptions,
  extractTarStream,
  HostileArchiveError,
} from "../../src/archive/index.js";
import { ContentCorruptError } from "../../src/platform/index.js";
import { type CraftedEntry, packEntries } from "./tar-crafting.js";
import { useHostileTarget, useWorkDir } from "./work-dir.js";

const work = useWorkDir("wsd-tar-stream-");
const hostile = useHostileTarget(work);
let target: string;
let outside: string;
beforeEach(() => {
  ({ target, outside } = hostile);
});

/** The tar stream cut into pieces of `size` bytes, as chunks of a chunked archive arrive. */
async function* pieces(tar: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let off = 0; off < tar.length; off += size) yield tar.subarray(off, off + size);
}

function expectNothingEscaped(): void {
  expect(readdirSync(target)).toEqual([]);
  expect(readdirSync(outside)).toEqual(["victim"]);
  expect(readFileSync(path.join(outside, "victim"), "utf8")).toBe("original\n");
  expect(readdirSync(work.join("ws"))).toEqual(["target"]);
}

async function refusal(entries: CraftedEntry[], options: ExtractTarStreamOptions = {}) {
  const tar = await packEntries(entries);
  const err = await extractTarStream(pieces(tar, 700), target, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expectNothingEscaped();
  return err;
}

describe("extractTarStream (the restore of chunked archives)", () => {
  it("restores a tar stream given in pieces", async () => {
    const tar = await packEntries([
      { name: "dir", type: "directory" },
      { name: "dir/a.txt", body: "a".repeat(5000) },
      { name: "link", type: "symlink", linkname: "dir/a.txt" },
    ]);
    const result = await extractTarStream(pieces(tar, 333), target);
    expect(result.entries).toBe(3);
    expect(result.tarBytes).toBe(tar.length);
    expect(readFileSync(path.join(target, "link"), "utf8")).toBe("a".repeat(5000));
  });

  it("applies the same hostile-archive rules as extractArchive: nothing lands outside", async () => {
    const dotdot = await refusal([
      { name: "ok.txt", body: "fine" },
      { name: "../x", body: "pwned" },
    ]);
    expect(dotdot).toBeInstanceOf(HostileArchiveError);
    const through = await refusal(
      [
        { name: "link", type: "symlink", linkname: outside },
        { name: "link/victim", body: "pwned" },
      ],
      { symlinks: "inert" },
    );
    expect(through).toBeInstanceOf(HostileArchiveError);
    expect((through as Error).message).toMatch(/parent link is a symlink/);
    const relative = await refusal([
      { name: "rel", type: "symlink", linkname: "../../outside" },
      { name: "rel/new", body: "pwned" },
    ]);
    expect((relative as Error).message).toMatch(/leaves the restore target/);
  });

  it("reports the source's own failure (e.g. a chunk failing its hash) and empties the target", async () => {
    const tar = await packEntries([
      { name: "a.txt", body: "a".repeat(100_000) },
      { name: "b.txt", body: "b".repeat(100_000) },
    ]);
    async function* failing() {
      yield tar.subarray(0, 150_000);
      throw new ContentCorruptError("chunk 1 does not match its hash");
    }
    await expect(extractTarStream(failing(), target)).rejects.toThrow(
      "chunk 1 does not match its hash",
    );
    expect(readdirSync(target)).toEqual([]);
    // a stream that ends early is a cut archive
    await expect(
      extractTarStream(pieces(tar.subarray(0, 150_000), 4096), target),
    ).rejects.toThrow();
    expect(readdirSync(target)).toEqual([]);
  });

  it("stops on abort and leaves the target empty", async () => {
    const tar = await packEntries([{ name: "a.txt", body: "a".repeat(3_000_000) }]);
    const abort = new AbortController();
    async function* slow() {
      yield tar.subarray(0, 1_000_000);
      abort.abort(new Error("cancelled mid-restore"));
      yield tar.subarray(1_000_000);
    }
    await expect(extractTarStream(slow(), target, { signal: abort.signal })).rejects.toThrow(
      "cancelled mid-restore",
    );
    expect(readdirSync(target)).toEqual([]);
  });
});
