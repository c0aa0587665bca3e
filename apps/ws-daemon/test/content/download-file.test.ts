import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { downloadVerified } from "../../src/content/download-file.js";
import { systemClock } from "../../src/platform/clock.js";
import { HttpFileServer, sha256Digest } from "../support/http-file-server.js";
import { makeTempDirs, type TempDirs } from "./fixtures.js";

let server: HttpFileServer;
let dirs: TempDirs;
beforeAll(async () => {
  server = await HttpFileServer.start();
});
afterAll(() => server.close());
beforeEach(async () => {
  dirs = await makeTempDirs();
  await mkdir(join(dirs.root, "target"));
});
afterEach(() => dirs.cleanup());

const fetchImpl = (url: string, init: { signal?: AbortSignal }) => fetch(url, init);

describe("downloadVerified", () => {
  it("a digest mismatch leaves an existing file untouched and no temp file behind", async () => {
    const destination = join(dirs.root, "target/file");
    await writeFile(destination, "previous");
    const url = server.serve("/mismatch", "new content");
    await expect(
      downloadVerified({
        fetch: fetchImpl,
        clock: systemClock,
        url,
        digest: sha256Digest("something else"),
        destination,
      }),
    ).rejects.toMatchObject({ kind: "data-loss" });
    expect(await readFile(destination, "utf8")).toBe("previous");
    expect(await readdir(join(dirs.root, "target"))).toEqual(["file"]);
  });

  it("replaces the file only when the digest matches", async () => {
    const destination = join(dirs.root, "target/file");
    await writeFile(destination, "previous");
    const url = server.serve("/match", "new content");
    await expect(
      downloadVerified({
        fetch: fetchImpl,
        clock: systemClock,
        url,
        digest: sha256Digest("new content"),
        destination,
      }),
    ).resolves.toEqual({ bytes: 11 });
    expect(await readFile(destination, "utf8")).toBe("new content");
    expect(await readdir(join(dirs.root, "target"))).toEqual(["file"]);
  });

  it("stops when the caller aborts, leaving no temp file", async () => {
    const destination = join(dirs.root, "target/aborted");
    const url = server.serve("/hang", { body: "x", gate: new Promise(() => undefined) });
    const controller = new AbortController();
    const pending = downloadVerified({
      fetch: fetchImpl,
      clock: systemClock,
      url,
      digest: sha256Digest("x"),
      destination,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(pending).rejects.toBeDefined();
    expect(await readdir(join(dirs.root, "target"))).toEqual([]);
  });
});
