import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ArchiveDeadlineError } from "../../src/archive/index.js";
import { LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { chunkedStore } from "./chunked-store-suite.js";
import { newWorkspace } from "./content-store-suite.js";
import { StalledGetStore } from "./object-store-faults.js";

const root = mkdtempSync(path.join(tmpdir(), "wsd-chunked-deadline-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const chunker = nativeChunkerOrReason();
if (!("path" in chunker)) {
  process.stdout.write(`skipping the framed-pack deadline case: ${chunker.reason}\n`);
}
// unframed packs are read whole; framed packs (the native chunker's) by ranged reads of frames
const writers: { name: string; chunkerPath?: string }[] = [
  { name: "whole packs (JavaScript chunker)" },
  ...("path" in chunker
    ? [{ name: "framed packs (native chunker)", chunkerPath: chunker.path }]
    : []),
];

describe.each(writers)("a chunked restore of $name from a store that stops answering", (writer) => {
  it("ends at the archive deadline with DEADLINE_EXCEEDED and an empty target", {
    timeout: 30_000,
  }, async () => {
    const base = mkdtempSync(path.join(root, "case-"));
    const objects = new LocalDirectoryObjectStore(path.join(base, "store"));
    const src = path.join(base, "src");
    mkdirSync(src, { recursive: true });
    for (let i = 0; i < 4; i++) writeFileSync(path.join(src, `f${i}`), randomBytes(700_000));
    const ws = newWorkspace();
    await chunkedStore(objects, writerOptions(writer)).store.backup(ws, src);
    // the attack: the first pack arrives, a later one never does (the GET is accepted, then
    // silence): without a deadline the restore, and the workspace's initialization, wait forever
    let packReads = 0;
    const stalling = new StalledGetStore(
      objects,
      (key) => key.endsWith(".pack") && packReads++ > 0,
    );
    const { store } = chunkedStore(stalling, {
      ...writerOptions(writer),
      deadline: { baseMs: 1500, msPerGiB: 0 },
    });
    const out = path.join(base, "out");
    const restore = store.restoreBackup(ws, out);
    await expect(restore).rejects.toBeInstanceOf(ArchiveDeadlineError);
    await expect(restore).rejects.toMatchObject({ kind: "deadline-exceeded" });
    expect(stalling.stalled.length).toBeGreaterThan(0);
    expect(readdirSync(out)).toEqual([]);
  });
});

function writerOptions(w: { chunkerPath?: string }) {
  return w.chunkerPath ? { chunkerPath: w.chunkerPath } : {};
}
