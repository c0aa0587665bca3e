import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseChunkIndex } from "../../src/chunks/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { backupPrefix } from "../../src/storage/object-keys.js";
import { getBytes } from "../../src/storage/object-store.js";
import { buildFullTree, expectSameTree } from "../archive/tree-fixture.js";
import { useWorkDir } from "../archive/work-dir.js";
import { isRoot, notRootReason } from "../support/env.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedManifestOf, chunkedStore, packsOf } from "./chunked-store-suite.js";
import { listKeys, newWorkspace } from "./content-store-suite.js";

const chunker = nativeChunkerOrReason();
const skip = !isRoot ? notRootReason : "path" in chunker ? undefined : chunker.reason;
if (skip) console.warn(`native chunker attack tests skipped: ${skip}`);

/**
 * A chunker that gets the walk's stream with `suffix` (a shell printf format) appended: the
 * stand-in for a stream gone wrong between the walk and the chunker. It also records, as the
 * workspace user (33333), whether it can list or write the pack directory.
 */
function wrappedChunker(dir: string, real: string, suffix: string): string {
  const script = path.join(dir, "wrapped-chunker.sh");
  writeFileSync(
    script,
    `#!/bin/bash
set -u
input="$2"; shift 2
pack_dir=""
args=("$@")
for ((i = 0; i < \${#args[@]}; i++)); do [ "\${args[i]}" = --pack-dir ] && pack_dir="\${args[i+1]}"; done
stat -c '%u %a' "$pack_dir" > "${dir}/pack-dir-mode"
setpriv --reuid 33333 --regid 33333 --clear-groups ls "$pack_dir" >/dev/null 2>&1 && echo listed >> "${dir}/as-user"
setpriv --reuid 33333 --regid 33333 --clear-groups touch "$pack_dir/planted" 2>/dev/null && echo wrote >> "${dir}/as-user"
mid="$pack_dir/mid"
mkfifo -m 600 "$mid"
{ cat "$input"; printf '${suffix}'; } > "$mid" &
exec "${real}" --input "$mid" "$@"
`,
  );
  chmodSync(script, 0o755);
  return script;
}

describe.skipIf(skip !== undefined)("chunked backups through the native chunker (root)", () => {
  const work = useWorkDir("wsd-native-attack-");
  const real = "path" in chunker ? chunker.path : "";

  async function backedUp(objects: LocalDirectoryObjectStore, chunkerWorkDir: string) {
    const src = work.join("src");
    buildFullTree(src, { largeBytes: 3_000_000 });
    const { store } = chunkedStore(objects, { chunkerPath: real, chunkerWorkDir });
    const ws = newWorkspace();
    await store.backup(ws, src);
    return { src, ws, store };
  }

  it.each([
    ["a truncated record", "D\\x10\\x00\\x00\\x00abc", /ends inside a record/],
    ["a data frame of 4 GiB", "D\\xff\\xff\\xff\\xff", /data frame of 4294967295 bytes/],
    [
      "a reuse record outside a piece",
      `R\\x01\\x00\\x00\\x00${"\\x11".repeat(32)}\\x05\\x00\\x00\\x00`,
      /not the whole content of a piece/,
    ],
    // well-formed, but it names a chunk the store does not have: the daemon refuses it
    [
      "a reused chunk that is not stored",
      `P${"\\x22".repeat(32)}R\\x01\\x00\\x00\\x00${"\\x11".repeat(32)}\\x05\\x00\\x00\\x00Q`,
      /which is not stored/,
    ],
  ])(
    "%s in the stream fails the backup: nothing published, the previous backup stays, no files left",
    async (_name, suffix, message) => {
      const objects = new LocalDirectoryObjectStore(work.join("store"));
      const tmp = work.join("tmp");
      mkdirSync(tmp);
      const { src, ws } = await backedUp(objects, tmp);
      const before = await listKeys(objects, "");
      const manifestBefore = await getBytes(objects, `${backupPrefix(ws)}manifest.json`);
      writeFileSync(path.join(src, "new-file"), "lost?\n".repeat(200_000));
      const { store: hostile } = chunkedStore(objects, {
        chunkerPath: wrappedChunker(work.path, real, suffix),
        chunkerWorkDir: tmp,
      });
      await expect(hostile.backup(ws, src)).rejects.toThrow(message);
      expect(await listKeys(objects, "")).toEqual(before);
      expect(await getBytes(objects, `${backupPrefix(ws)}manifest.json`)).toEqual(manifestBefore);
      expect(readdirSync(tmp)).toEqual([]);
      // the pack directory was private to the daemon: the workspace user could neither list it
      // nor plant anything in it
      expect(readFileSync(work.join("pack-dir-mode"), "utf8").trim()).toBe("0 700");
      expect(readdirSync(work.path)).not.toContain("as-user");
    },
  );

  it("a full disk under the pack directory fails the backup cleanly", async () => {
    const objects = new LocalDirectoryObjectStore(work.join("store"));
    const small = work.join("small");
    mkdirSync(small);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", small]);
    try {
      const src = work.join("src");
      buildFullTree(src, { largeBytes: 6_000_000 });
      const { store } = chunkedStore(objects, { chunkerPath: real, chunkerWorkDir: small });
      await expect(store.backup(newWorkspace(), src)).rejects.toThrow(/No space left on device/);
      expect(await listKeys(objects, "")).toEqual([]);
      expect(readdirSync(small)).toEqual([]);
    } finally {
      execFileSync("umount", [small]);
    }
  });

  it("writes framed packs and a version-2 index that the whole-pack restore reads", async () => {
    const objects = new LocalDirectoryObjectStore(work.join("store"));
    const tmp = work.join("tmp");
    mkdirSync(tmp);
    const { src, ws, store } = await backedUp(objects, tmp);
    const manifest = await chunkedManifestOf(store, ws);
    const index = parseChunkIndex(await getBytes(objects, manifest.indexKey), manifest.indexKey);
    expect(JSON.parse((await getBytes(objects, manifest.indexKey)).toString()).formatVersion).toBe(
      2,
    );
    expect(index.packs.length).toBeGreaterThan(1);
    expect(index.packs.every((p) => p.framed)).toBe(true);
    // each chunk's frame alone decompresses to exactly its bytes (what a ranged restore reads)
    const packs = new Map<string, Buffer>();
    for (const p of index.packs) packs.set(p.key, await getBytes(objects, p.key));
    for (const c of index.chunks) {
      const pack = packs.get(index.packs[c.pack]?.key ?? "") ?? Buffer.alloc(0);
      if (!c.frame) throw new Error("a chunk of a framed pack without a frame");
      const raw = execFileSync("zstd", ["-d", "-c", "-q"], {
        input: pack.subarray(c.frame.offset, c.frame.offset + c.frame.length),
        maxBuffer: 1 << 26,
      });
      expect(raw.length).toBe(c.length);
      const { createHash } = await import("node:crypto");
      expect(createHash("sha256").update(raw).digest("hex")).toBe(c.sha256);
    }
    // the existing restore path decompresses whole packs: concatenated frames are one stream
    await store.restoreBackup(ws, work.join("back"));
    expectSameTree(work.join("back"), src);
    // a JavaScript-chunker daemon backs up the same tree against it: nothing new, and its
    // index names the framed packs with their frames
    const js = chunkedStore(objects);
    const packsBefore = await packsOf(objects, ws);
    await js.store.backup(ws, src);
    expect(js.stats[0]?.newChunks).toBe(0);
    expect(await packsOf(objects, ws)).toEqual(packsBefore);
    await js.store.restoreBackup(ws, work.join("back-js"));
    expectSameTree(work.join("back-js"), src);
    expect(readdirSync(tmp)).toEqual([]);
  });
});
