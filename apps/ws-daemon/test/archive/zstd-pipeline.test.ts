import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ExtractJob, ExtractJobResult } from "../../src/archive/extract-worker.js";
import { ZstdPipeline } from "../../src/archive/zstd-pipeline.js";
import { ZstdFailedError } from "../../src/archive/zstd-process.js";
import { craftArchive } from "./tar-crafting.js";

let work: string;
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), "wsd-pipeline-"));
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

const extractInto = (root: string, options: ExtractJob["options"] = {}) =>
  ZstdPipeline.decompress<{ entries: number }, ExtractJobResult>(
    { entry: "extract-worker", job: (fifo) => ({ fifo, root, options }) satisfies ExtractJob },
    { input: "pipe" },
  );

describe("zstd -d | extract worker", () => {
  it("delivers the worker's result once both ended cleanly", async () => {
    const archive = await craftArchive([{ name: "a.txt", body: "a\n" }]);
    const unpacking = extractInto(work);
    await pipeline(Readable.from([archive]), unpacking.stdin);
    expect(await unpacking.done).toEqual({ entries: 1, contentBytes: 2, tarBytes: 2048 });
    expect(readdirSync(work)).toEqual(["a.txt"]);
  });

  // the worker refuses the second entry with a MiB of output still to come: zstd must see its
  // reader go (EPIPE) instead of waiting on a full pipe for someone to kill it
  it("ends zstd by itself when the worker stops reading", { timeout: 20_000 }, async () => {
    const archive = await craftArchive([
      { name: "first", body: randomBytes(1024 * 1024) },
      { name: "second", body: randomBytes(1024 * 1024) },
    ]);
    const unpacking = extractInto(work, { maxEntries: 1 });
    await pipeline(Readable.from([archive]), unpacking.stdin).catch(() => undefined);
    const { worker, zstd } = await unpacking.outcome();
    expect(worker).toMatchObject({
      name: "HostileArchiveError",
      message: 'refusing archive entry "second": more than 1 entries',
    });
    expect(zstd).toBeInstanceOf(ZstdFailedError);
    expect(zstd instanceof ZstdFailedError && zstd.lostItsReader).toBe(true);
  });
});
