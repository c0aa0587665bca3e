import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { expect } from "vitest";

export { isRoot } from "../support/env.js";

import { isRoot } from "../support/env.js";

/**
 * Builds a tree with every entry type the archive must keep: regular files (empty, small, >1 MiB
 * random, executable, read-only), directories (empty, nested empty, restrictive modes), relative
 * symlinks (to a file, to a dir, dangling), hard links, unicode/space/long names and long symlink
 * targets, fractional mtimes on everything, and (as root) foreign ownership.
 */
export function buildFullTree(root: string, opts: { largeBytes?: number | undefined } = {}): void {
  mkdirSync(root, { recursive: true });
  const w = (rel: string, data: string | Buffer, mode = 0o644) => {
    const p = path.join(root, rel);
    mkdirSync(path.dirname(p), { recursive: true });
    writeFileSync(p, data);
    chmodSync(p, mode);
  };
  w("README.md", "# hello\n");
  w("empty-file", "");
  w("src/index.ts", "export const answer = 42;\n".repeat(100));
  w("src/run.sh", "#!/bin/sh\necho run\n", 0o755);
  w("src/secret.txt", "top secret\n", 0o600);
  w("src/readonly.txt", "do not touch\n", 0o444);
  w("src/setgid-tool", "tool\n", 0o2755);
  w("data/large.bin", randomBytes(opts.largeBytes ?? 3 * 1024 * 1024 + 17));
  w("ünïcode ☃/file with spaces.txt", "unicode\n");
  const longDir = "a-very-long-directory-name-that-goes-on/".repeat(4);
  w(`${longDir}long-file-name-${"x".repeat(80)}.txt`, "long\n");
  mkdirSync(path.join(root, "empty-dir"));
  mkdirSync(path.join(root, "nested/empty/dirs"), { recursive: true });
  mkdirSync(path.join(root, "private"), { mode: 0o700 });
  w("private/key", "k\n", 0o400);
  symlinkSync("../README.md", path.join(root, "src/readme-link"));
  symlinkSync("src", path.join(root, "src-dir-link"));
  symlinkSync("does/not/exist", path.join(root, "dangling-link"));
  symlinkSync(
    `${longDir}long-file-name-${"x".repeat(80)}.txt`,
    path.join(root, "long-target-link"),
  );
  linkSync(path.join(root, "src/index.ts"), path.join(root, "hardlink-to-index.ts"));
  linkSync(path.join(root, "src/index.ts"), path.join(root, "nested/hardlink-2.ts"));
  if (isRoot) {
    chownSync(path.join(root, "src/secret.txt"), 1234, 5678);
    chownSync(path.join(root, "private"), 4242, 4242);
  }
  // mtimes last, deepest first, since creating entries touches the parent's mtime
  const all = listAll(root).sort((a, b) => b.split("/").length - a.split("/").length);
  let i = 0;
  for (const rel of all) {
    const t = 1_600_000_000 + i++ * 1000 + 0.123456;
    const p = rel === "." ? root : path.join(root, rel);
    if (lstatSync(p).isSymbolicLink()) lutimesSync(p, t, t);
    else utimesSync(p, t, t);
  }
  // restore a restrictive mode after utimes could no longer be blocked
  chmodSync(path.join(root, "nested/empty"), 0o555);
}

function listAll(root: string, rel = "."): string[] {
  const out = [rel];
  const abs = rel === "." ? root : path.join(root, rel);
  if (!lstatSync(abs).isDirectory()) return out;
  for (const name of readdirSync(abs))
    out.push(...listAll(root, rel === "." ? name : `${rel}/${name}`));
  return out;
}

export interface EntrySnapshot {
  type: "file" | "dir" | "symlink" | "other";
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  sha256?: string;
  target?: string;
  /** All paths sharing this file's inode, sorted (hard link identity). */
  links?: string[];
}

/** Everything the round trip must preserve, keyed by relative path ("." is the root). */
export function snapshotTree(root: string): Map<string, EntrySnapshot> {
  const out = new Map<string, EntrySnapshot>();
  const byInode = new Map<string, string[]>();
  for (const rel of listAll(root)) {
    const abs = rel === "." ? root : path.join(root, rel);
    const st = lstatSync(abs);
    const e: EntrySnapshot = {
      type: st.isFile()
        ? "file"
        : st.isDirectory()
          ? "dir"
          : st.isSymbolicLink()
            ? "symlink"
            : "other",
      mode: st.mode & 0o7777,
      uid: st.uid,
      gid: st.gid,
      size: st.isFile() ? st.size : 0,
      mtimeMs: st.mtimeMs,
    };
    if (st.isFile()) {
      e.sha256 = createHash("sha256").update(readFileSync(abs)).digest("hex");
      const key = `${st.dev}:${st.ino}`;
      const group = byInode.get(key) ?? [];
      group.push(rel);
      byInode.set(key, group);
      e.links = group;
    }
    if (st.isSymbolicLink()) e.target = readlinkSync(abs);
    out.set(rel, e);
  }
  for (const group of byInode.values()) group.sort();
  return out;
}

/**
 * Asserts two trees are equal in content, types, modes, ids, link targets, hard link groups and
 * mtimes. mtimes may differ by < 2 µs: Node passes times to utimes as a double of seconds.
 * `setid`: "stripped" (the default: what a restore does unless told to keep them) expects regular
 * files to have lost their setuid/setgid bits; "kept" expects them as in `expectedRoot`.
 */
export function expectSameTree(
  actualRoot: string,
  expectedRoot: string,
  opts: { ignoreOwnership?: boolean; idDelta?: number; setid?: "stripped" | "kept" } = {},
): void {
  const actual = snapshotTree(actualRoot);
  const expected = snapshotTree(expectedRoot);
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [rel, exp] of expected) {
    const act = actual.get(rel);
    if (act === undefined) throw new Error(`${rel} is missing (the key lists differ)`);
    const { mtimeMs: am, uid: au, gid: ag, ...arest } = act;
    const { mtimeMs: em, uid: eu, gid: eg, ...erest } = exp;
    if ((opts.setid ?? "stripped") === "stripped" && erest.type === "file") erest.mode &= ~0o6000;
    expect({ rel, ...arest }).toEqual({ rel, ...erest });
    expect(Math.abs(am - em), `mtime of ${rel}: ${am} vs ${em}`).toBeLessThan(0.002);
    if (!opts.ignoreOwnership) {
      expect({ rel, uid: au, gid: ag }).toEqual({
        rel,
        uid: eu + (opts.idDelta ?? 0),
        gid: eg + (opts.idDelta ?? 0),
      });
    }
  }
}
