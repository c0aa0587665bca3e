import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { extractArchive } from "../../src/archive/index.js";
import { ArchiveContentStore, LocalDirectoryObjectStore } from "../../src/storage/index.js";
import { craftArchive } from "../archive/tar-crafting.js";
import { useWorkDir } from "../archive/work-dir.js";
import { isRoot, notRootReason } from "../support/env.js";
import { newWorkspace } from "./content-store-suite.js";

/**
 * Finding 7 of issue 17: a restore runs as root, and the content is not on a nosuid mount in the
 * XFS and no-quota modes. Whatever the archive says, everything restored belongs to the workspace
 * user (content.uid/gid) and loses setuid/setgid unless configured to keep them.
 */

if (!isRoot) console.warn(notRootReason("[restore ownership] chown and set-id tests"));

const work = useWorkDir("wsd-restore-owner-");
const WORKSPACE = { uid: 33333, gid: 33333 };

/** Every entry below `root` (the root included): path -> "uid:gid mode". */
function owners(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (rel: string) => {
    const st = lstatSync(rel === "" ? root : path.join(root, rel));
    out.set(rel || ".", `${st.uid}:${st.gid} ${(st.mode & 0o7777).toString(8)}`);
    if (st.isDirectory()) {
      for (const name of readdirSync(path.join(root, rel))) visit(rel ? `${rel}/${name}` : name);
    }
  };
  visit("");
  return out;
}

describe.skipIf(!isRoot)("restores as root give everything to the workspace user", () => {
  it("a backup of files owned by root and others, set-id programs among them", async () => {
    const src = work.join("src");
    mkdirSync(path.join(src, "bin"), { recursive: true });
    writeFileSync(path.join(src, "bin", "suid-root"), "#!/bin/sh\nid\n");
    chmodSync(path.join(src, "bin", "suid-root"), 0o4755);
    writeFileSync(path.join(src, "bin", "sgid-other"), "#!/bin/sh\nid\n");
    chownSync(path.join(src, "bin", "sgid-other"), 1234, 5678);
    chmodSync(path.join(src, "bin", "sgid-other"), 0o2755);
    mkdirSync(path.join(src, "shared"));
    chmodSync(path.join(src, "shared"), 0o1777);
    symlinkSync("bin/suid-root", path.join(src, "link"));
    chownSync(path.join(src, "bin"), 4242, 4242);

    const objects = new LocalDirectoryObjectStore(work.join("store"));
    const store = new ArchiveContentStore(objects, {
      restore: { symlinks: "inert", owner: WORKSPACE },
    });
    const ws = newWorkspace();
    await store.backup(ws, src);
    const out = work.join("out");
    await store.restoreBackup(ws, out);
    expect(Object.fromEntries(owners(out))).toEqual({
      ".": "33333:33333 755",
      bin: "33333:33333 755",
      "bin/sgid-other": "33333:33333 755",
      "bin/suid-root": "33333:33333 755",
      link: "33333:33333 777",
      shared: "33333:33333 1777",
    });

    // configured to keep them, the bits come back (on the workspace user's files)
    const keeping = new ArchiveContentStore(objects, {
      restore: { symlinks: "inert", owner: WORKSPACE, keepSetid: true },
    });
    const kept = work.join("kept");
    await keeping.restoreBackup(ws, kept);
    expect(owners(kept).get("bin/suid-root")).toBe("33333:33333 4755");
    expect(owners(kept).get("bin/sgid-other")).toBe("33333:33333 2755");
  });

  it("a crafted archive cannot plant a setuid-root program", async () => {
    const archive = await craftArchive([
      { name: "suid-shell", body: "#!/bin/sh\nexec sh\n", mode: 0o4755, uid: 0, gid: 0 },
      { name: "d", type: "directory", mode: 0o2775, uid: 0, gid: 0 },
    ]);
    const out = work.join("crafted");
    await extractArchive(Readable.from([archive]), out, { owner: WORKSPACE });
    expect(owners(out).get("suid-shell")).toBe("33333:33333 755");
    // set-id on directories only steers group inheritance: kept, but owned by the workspace user
    expect(owners(out).get("d")).toBe("33333:33333 2775");
  });
});
