import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { gitpodReadyContent, writeGitpodReadyFile } from "../../src/content/gitpod-ready.js";
import type { WorkspaceContentManager } from "../../src/content/index.js";
import { metadata, useContentArea } from "./fixtures.js";

const area = useContentArea();

describe("the .gitpod/ready file (compat.gitpod, issue 11)", () => {
  it("is written after init with upstream's JSON: source and metrics in ns and bytes", async () => {
    const manager: WorkspaceContentManager = await area.open({ config: { gitpodReadyFile: true } });
    await manager.init({ id: "gp", metadata, initializer: { kind: "empty" } });
    const dir = manager.contentDir("gp");
    const ready = JSON.parse(await readFile(join(dir, ".gitpod/ready"), "utf8"));
    expect(ready).toEqual({ source: "from-other", metrics: [] });
    // no temp file is left behind; our own marker is still written
    await expect(lstat(join(dir, ".gitpod/ready.tmp"))).rejects.toMatchObject({ code: "ENOENT" });
    expect(JSON.parse(await readFile(join(dir, ".ws-daemon/ready.json"), "utf8")).source).toBe(
      "from-other",
    );
  });

  it("is not written when compat.gitpod is off (the default)", async () => {
    const manager = await area.open();
    await manager.init({ id: "plain", metadata, initializer: { kind: "empty" } });
    await expect(lstat(join(manager.contentDir("plain"), ".gitpod"))).rejects.toMatchObject({
      code: "ENOENT",
    });
  });

  it("maps every initializer kind to upstream's metric type; the empty one reports none", () => {
    const stats = (
      ["git", "download", "snapshot", "backup", "prebuild", "composite", "empty"] as const
    ).map((kind, i) => ({ kind, durationMs: 1.5 + i, bytes: 100 * i, files: 1 }));
    expect(gitpodReadyContent("from-backup", stats)).toEqual({
      source: "from-backup",
      metrics: [
        { type: "git", duration: 1_500_000, size: 0 },
        { type: "fileDownload", duration: 2_500_000, size: 100 },
        { type: "snapshot", duration: 3_500_000, size: 200 },
        { type: "fromBackup", duration: 4_500_000, size: 300 },
        { type: "prebuild", duration: 5_500_000, size: 400 },
        { type: "composite", duration: 6_500_000, size: 500 },
      ],
    });
  });
});

describe("writeGitpodReadyFile against hostile workspace content", () => {
  let root: string;
  let content: string;
  let outside: string;
  const ready = { source: "from-other" as const, metrics: [] };
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), "wsd-gitpod-ready-"));
    content = join(root, "ws");
    outside = join(root, "outside");
    await mkdir(content);
    await mkdir(outside);
  });
  afterEach(() => rm(root, { recursive: true, force: true }));

  it("a .gitpod file (the old config) becomes .gitpod.yaml, as upstream", async () => {
    await writeFile(join(content, ".gitpod"), "tasks: []\n");
    await writeGitpodReadyFile(content, ready, undefined);
    expect(await readFile(join(content, ".gitpod.yaml"), "utf8")).toBe("tasks: []\n");
    expect(JSON.parse(await readFile(join(content, ".gitpod/ready"), "utf8"))).toEqual(ready);
  });

  it("a .gitpod file next to an existing .gitpod.yaml is removed, the yaml kept", async () => {
    await writeFile(join(content, ".gitpod"), "old\n");
    await writeFile(join(content, ".gitpod.yaml"), "new\n");
    await writeGitpodReadyFile(content, ready, undefined);
    expect(await readFile(join(content, ".gitpod.yaml"), "utf8")).toBe("new\n");
    expect((await lstat(join(content, ".gitpod"))).isDirectory()).toBe(true);
  });

  it("a .gitpod symlink to a directory outside is moved aside, never written through", async () => {
    await symlink(outside, join(content, ".gitpod"));
    await writeGitpodReadyFile(content, ready, undefined);
    await expect(lstat(join(outside, "ready"))).rejects.toMatchObject({ code: "ENOENT" });
    // the link itself became .gitpod.yaml (still pointing where it did), .gitpod is a real dir
    expect(await readlink(join(content, ".gitpod.yaml"))).toBe(outside);
    expect((await lstat(join(content, ".gitpod"))).isDirectory()).toBe(true);
  });

  it("a planted ready.tmp symlink to a host file leaves that file untouched", async () => {
    const victim = join(outside, "passwd");
    await writeFile(victim, "root:x:0:0\n");
    await mkdir(join(content, ".gitpod"));
    await symlink(victim, join(content, ".gitpod/ready.tmp"));
    await symlink(victim, join(content, ".gitpod/ready"));
    await writeGitpodReadyFile(content, ready, undefined);
    expect(await readFile(victim, "utf8")).toBe("root:x:0:0\n");
    const written = await lstat(join(content, ".gitpod/ready"));
    expect(written.isFile()).toBe(true);
    expect(written.mode & 0o777).toBe(0o644);
    expect(JSON.parse(await readFile(join(content, ".gitpod/ready"), "utf8"))).toEqual(ready);
  });
});
