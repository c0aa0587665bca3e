import { lstat, mkdir, readdir, readFile, symlink } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { InitializerSpec, WorkspaceContentManager } from "../../src/content/index.js";
import { sha256Digest } from "../support/http-file-server.js";
import { metadata, openManager, useContentArea, useFileServer } from "./fixtures.js";

const server = useFileServer();
const area = useContentArea(1_000);
let manager: WorkspaceContentManager;
beforeEach(async () => {
  manager = await area.open();
});

const download = (
  targetLocation: string,
  files: { url: string; filePath: string; digest: string }[],
): InitializerSpec => ({
  kind: "download",
  targetLocation,
  files,
});

const filesUnder = async (dir: string): Promise<string[]> => {
  const out: string[] = [];
  const walk = async (d: string, prefix: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      out.push(prefix + e.name);
      if (e.isDirectory()) await walk(join(d, e.name), `${prefix}${e.name}/`);
    }
  };
  await walk(dir, "");
  return out.sort();
};

describe("download initializer", () => {
  it("downloads into nested new directories, verifies the digest and writes the ready marker", async () => {
    const body = Buffer.alloc(300_000, "z");
    const url = server.serve("/good.bin", body);
    const record = await manager.init({
      id: "dl-good",
      metadata,
      initializer: download("tools", [
        { url, filePath: "bin/deep/good.bin", digest: sha256Digest(body) },
      ]),
    });
    expect(record.state).toBe("available");
    const dir = manager.contentDir("dl-good");
    expect((await readFile(join(dir, "tools/bin/deep/good.bin"))).equals(body)).toBe(true);
    expect((await lstat(join(dir, "tools/bin/deep/good.bin"))).mode & 0o777).toBe(0o644);
    const marker = JSON.parse(await readFile(join(dir, ".ws-daemon/ready.json"), "utf8"));
    expect(marker).toMatchObject({
      source: "from-other",
      stats: [{ kind: "download", bytes: 300_000, files: 1 }],
    });
    expect(record.initResult).toMatchObject({ source: "from-other" });
    // no temp files left beside the result
    expect(await filesUnder(dir)).toEqual([
      ".ws-daemon",
      ".ws-daemon/ready.json",
      "tools",
      "tools/bin",
      "tools/bin/deep",
      "tools/bin/deep/good.bin",
    ]);
  });

  it("fails with data-loss on a digest mismatch and leaves no partial file", async () => {
    const url = server.serve("/bad.bin", "actual content");
    const err = await manager
      .init({
        id: "dl-bad",
        metadata,
        initializer: download("", [
          { url, filePath: "bad.bin", digest: sha256Digest("other content") },
        ]),
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: "data-loss",
      message: expect.stringContaining("digest mismatch"),
    });
    await expect(lstat(manager.contentDir("dl-bad"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(manager.get("dl-bad")).toMatchObject({
      state: "none",
      initFailure: { kind: "data-loss" },
    });
    await expect(manager.waitForInit("dl-bad")).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringContaining("digest mismatch"),
    });
  });

  it("maps 404 to not-found", async () => {
    const err = await manager
      .init({
        id: "dl-404",
        metadata,
        initializer: download("", [
          { url: `${server.baseUrl}/missing`, filePath: "x", digest: sha256Digest("x") },
        ]),
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "not-found", message: expect.stringContaining("HTTP 404") });
  });

  it("retries a dropped connection and then reports unavailable, leaving nothing", async () => {
    const body = Buffer.alloc(100_000, "q");
    const path = "/truncated.bin";
    const url = server.serve(path, { body, truncateAt: 1000 });
    const before = server.requests.filter((p) => p === path).length;
    const err = await manager
      .init({
        id: "dl-trunc",
        metadata,
        initializer: download("", [{ url, filePath: "t.bin", digest: sha256Digest(body) }]),
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ kind: "unavailable" });
    expect(server.requests.filter((p) => p === path).length - before).toBe(3);
    await expect(lstat(manager.contentDir("dl-trunc"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("gives up on a server that never answers (per-attempt timeout), leaving nothing", async () => {
    const m = await openManager(
      { ...area.dirs, area: join(area.dirs.root, "area-timeout") },
      { config: { downloadTimeoutMs: 200, downloadAttempts: 2 } },
    );
    const url = server.serve("/never", { body: "x", gate: new Promise(() => undefined) });
    const err = await m
      .init({
        id: "dl-slow",
        metadata,
        initializer: download("", [{ url, filePath: "slow", digest: sha256Digest("x") }]),
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: "unavailable",
      message: expect.stringContaining("not complete within 200 ms"),
    });
    await expect(lstat(m.contentDir("dl-slow"))).rejects.toMatchObject({ code: "ENOENT" });
    await m.shutdown(100);
  });

  it("refuses a file path through a symlink created by an earlier initializer", async () => {
    // A download cannot create a symlink, but a restored backup can contain one. The store itself
    // refuses links that point outside; this one points inside and is refused by policy (any link).
    // The composite itself must run: with init.restoreBackupFirst (issue 11) the backup alone
    // would be restored instead and the download never attempted.
    manager = await area.open({ config: { restoreBackupFirst: false } });
    const url = server.serve("/x", "x");
    await manager.init({ id: "seed", metadata, initializer: { kind: "empty" } });
    await mkdir(join(manager.contentDir("seed"), "real"));
    await symlink("real", join(manager.contentDir("seed"), "escape"));
    await manager.backup("seed");
    await manager.dispose("seed");

    const err = await manager
      .init({
        id: "dl-link",
        metadata,
        initializer: {
          kind: "composite",
          initializers: [
            { kind: "backup", checkoutLocation: "", fromVolumeSnapshot: false },
            download("escape", [{ url, filePath: "pwned", digest: sha256Digest("x") }]),
          ],
        },
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({
      kind: "invalid-argument",
      message: expect.stringContaining("symlink"),
    });
    await expect(lstat(manager.contentDir("dl-link"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});
