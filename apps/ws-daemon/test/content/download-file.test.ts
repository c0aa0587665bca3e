import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { type DownloadOptions, downloadVerified } from "../../src/content/download-file.js";
import { type Clock, NetworkPolicyError, systemClock } from "../../src/platform/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import { useContentArea, useFileServer } from "./fixtures.js";

const server = useFileServer();
const area = useContentArea();
let target: string;
beforeEach(async () => {
  target = join(area.dirs.root, "target");
  await mkdir(target);
});

const fetchImpl = (url: string, init: { signal?: AbortSignal }) => fetch(url, init);

/** A clock that records the waits between attempts (running `onSleep`) instead of waiting. */
const recordingClock = (onSleep: () => void = () => undefined) => {
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => Date.now(),
    sleep: async (ms) => {
      sleeps.push(ms);
      onSleep();
    },
  };
  return { clock, sleeps };
};

/** Downloads `url` into `file` of the target dir, expecting the digest of `expected`. */
const download = (
  url: string,
  expected: string,
  file: string,
  options: Partial<DownloadOptions> = {},
) =>
  downloadVerified({
    fetch: fetchImpl,
    clock: systemClock,
    url,
    digest: sha256Digest(expected),
    destination: join(target, file),
    ...options,
  });

describe("downloadVerified", () => {
  it("a digest mismatch leaves an existing file untouched and no temp file behind", async () => {
    await writeFile(join(target, "file"), "previous");
    const url = server.serve("/mismatch", "new content");
    const err = await download(url, "something else", "file").catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: "data-loss",
      message: `download ${url}: digest mismatch, the content is not ${sha256Digest("something else")}`,
    });
    // not the digest of what was fetched: that would tell what the URL serves
    expect((err as Error).message).not.toContain(sha256Digest("new content").slice(7));
    expect(await readFile(join(target, "file"), "utf8")).toBe("previous");
    expect(await readdir(target)).toEqual(["file"]);
  });

  it("replaces the file only when the digest matches", async () => {
    await writeFile(join(target, "file"), "previous");
    const url = server.serve("/match", "new content");
    await expect(download(url, "new content", "file")).resolves.toEqual({ bytes: 11 });
    expect(await readFile(join(target, "file"), "utf8")).toBe("new content");
    expect(await readdir(target)).toEqual(["file"]);
  });

  it("retries a server error with linearly growing waits, then gives up as unavailable", async () => {
    const url = server.serve("/down", { body: "x", status: 503 });
    const { clock, sleeps } = recordingClock();
    await expect(
      download(url, "x", "down", { clock, attempts: 4, retryDelayMs: 100 }),
    ).rejects.toMatchObject({
      kind: "unavailable",
      message: `download ${url}: server answered HTTP 503 (after 4 attempts)`,
    });
    expect(sleeps).toEqual([100, 200, 300]);
    expect(server.requests.filter((p) => p === "/down")).toHaveLength(4);
    expect(await readdir(target)).toEqual([]);
  });

  it("succeeds on a later attempt after a broken-off body", async () => {
    const url = server.serve("/flaky", { body: "flaky body", truncateAt: 3 });
    // the server is repaired while the download waits for its second attempt
    const { clock, sleeps } = recordingClock(() => server.serve("/flaky", "flaky body"));
    await expect(download(url, "flaky body", "flaky", { clock, retryDelayMs: 7 })).resolves.toEqual(
      { bytes: 10 },
    );
    expect(sleeps).toEqual([7]);
    expect(await readFile(join(target, "flaky"), "utf8")).toBe("flaky body");
  });

  it("does not retry what another attempt cannot fix (404)", async () => {
    const { clock, sleeps } = recordingClock();
    const url = `${server.baseUrl}/missing`;
    await expect(download(url, "x", "missing", { clock })).rejects.toMatchObject({
      kind: "not-found",
      message: `download ${url}: server answered HTTP 404`,
    });
    expect(sleeps).toEqual([]);
  });

  it("does not retry a refusal of the network policy, and keeps its kind", async () => {
    const { clock, sleeps } = recordingClock();
    const refusing = async () => {
      throw new NetworkPolicyError(
        "127.0.0.1 is a loopback address, which the network policy refuses",
      );
    };
    await expect(
      download(`${server.baseUrl}/x`, "x", "refused", { clock, fetch: refusing }),
    ).rejects.toMatchObject({
      kind: "permission-denied",
      message: expect.stringContaining("loopback address"),
    });
    expect(sleeps).toEqual([]);
    expect(await readdir(target)).toEqual([]);
  });

  it("stops a body at maxBytes while it streams and is not retried", async () => {
    const url = server.serve("/endless", { body: Buffer.alloc(4096, "e"), endless: true });
    const { clock, sleeps } = recordingClock();
    const before = server.requests.length;
    await expect(download(url, "x", "endless", { clock, maxBytes: 100_000 })).rejects.toMatchObject(
      {
        kind: "resource-exhausted",
        message: `download ${url}: the body is larger than the limit of 100000 bytes (downloads.maxBytes)`,
      },
    );
    expect(sleeps).toEqual([]);
    expect(server.requests.length - before).toBe(1);
    expect(await readdir(target)).toEqual([]);
  });

  it("stops when the caller aborts, leaving no temp file", async () => {
    const url = server.serve("/hang", { body: "x", gate: new Promise(() => undefined) });
    const controller = new AbortController();
    const pending = download(url, "x", "aborted", { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    // The caller's own abort comes back as it is (not retried, not turned into "unavailable").
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(await readdir(target)).toEqual([]);
  });
});
