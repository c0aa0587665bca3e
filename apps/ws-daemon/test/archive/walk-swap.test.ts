import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import type { ParsedTarHeader } from "../../src/archive/safe-extractor.js";
import { TarParser } from "../../src/archive/tar-parser.js";
import {
  emptySummary,
  type TarWriteOptions,
  tarDirectorySync,
} from "../../src/archive/tar-writer.js";
import { useWorkDir } from "./work-dir.js";

/**
 * Finding 2 of issue 17: a workspace process swaps a directory for a symlink while the archive
 * walk runs. The fault hook runs right after a directory was listed, before any of its children
 * is opened: the widest window the walk has. Canary files outside the workspace (another
 * tenant's workspace, a host directory) must never reach the archive.
 */

const CANARY = "CANARY-outside-the-workspace";
const work = useWorkDir("wsd-walk-swap-");
let area: string;
let ws: string;
let host: string;
beforeEach(() => {
  area = work.join("area");
  ws = path.join(area, "ws");
  host = work.join("host-etc");
  mkdirSync(path.join(ws, "z"), { recursive: true });
  writeFileSync(path.join(ws, "a.txt"), "mine a\n");
  writeFileSync(path.join(ws, "z", "secret.txt"), "mine z\n");
  // another tenant beside the workspace and a host directory, with the same names as z holds
  mkdirSync(path.join(area, "other"));
  writeFileSync(path.join(area, "other", "secret.txt"), `${CANARY} other tenant\n`);
  mkdirSync(host);
  writeFileSync(path.join(host, "secret.txt"), `${CANARY} host\n`);
  writeFileSync(path.join(host, "shadow"), `${CANARY} shadow\n`);
});

interface Archived {
  /** Everything the writer produced, up to its end or its failure. */
  bytes: Buffer;
  entries: Map<string, { header: ParsedTarHeader; body: string }>;
  error: unknown;
  warnings: string[];
}

/** Runs the writer over `ws` with the fault hook; lists what it wrote even if it then failed. */
function archive(afterList: NonNullable<TarWriteOptions["afterList"]>): Archived {
  const chunks: Buffer[] = [];
  const summary = emptySummary();
  let error: unknown;
  try {
    for (const b of tarDirectorySync(ws, { afterList }, summary)) chunks.push(Buffer.from(b));
  } catch (err) {
    error = err;
  }
  const bytes = Buffer.concat(chunks);
  const entries = new Map<string, { header: ParsedTarHeader; body: string }>();
  const parser = new TarParser({
    entry(header) {
      const parts: Buffer[] = [];
      const item = { header, body: "" };
      entries.set(header.name, item);
      return {
        write: (c) => parts.push(Buffer.from(c)),
        end: () => {
          item.body = Buffer.concat(parts).toString("utf8");
        },
      };
    },
  });
  // a failed run ends mid-stream: list the complete entries only
  parser.push(bytes);
  return { bytes, entries, error, warnings: summary.warnings };
}

/** Replaces directory `rel` of the workspace by a symlink to `target`, as a workspace process can. */
function swapForSymlink(rel: string, target: string): void {
  renameSync(path.join(ws, rel), path.join(work.path, "moved-away"));
  symlinkSync(target, path.join(ws, rel));
}

function expectNoCanary(a: Archived): void {
  expect(a.bytes.includes(CANARY)).toBe(false);
  for (const [name, e] of a.entries) expect(e.body, name).not.toContain(CANARY);
}

describe("the archive walk never follows a directory swapped for a symlink", () => {
  it("a directory replaced by a symlink to a host directory after its parent was listed", () => {
    const a = archive((dir) => {
      if (dir === "") swapForSymlink("z", host);
    });
    expectNoCanary(a);
    expect([...a.entries.keys()]).not.toContain("z/shadow");
    expect(a.error).toMatchObject({ name: "ArchiveTreeChangedError", kind: "failed-precondition" });
    expect((a.error as Error).message).toMatch(/directory z was replaced while it was archived/);
  });

  it("a directory replaced by `z -> ..`, which would walk every tenant of the working area", () => {
    const a = archive((dir) => {
      if (dir === "") swapForSymlink("z", "..");
    });
    expectNoCanary(a);
    expect([...a.entries.keys()].some((n) => n.includes("other"))).toBe(false);
    expect(a.error).toMatchObject({ name: "ArchiveTreeChangedError" });
  });

  it("a directory replaced by another directory (a rename) is not archived in its place", () => {
    const a = archive((dir) => {
      if (dir !== "") return;
      renameSync(path.join(ws, "z"), path.join(work.path, "moved-away"));
      mkdirSync(path.join(ws, "z"));
      writeFileSync(path.join(ws, "z", "late.txt"), "created after the listing\n");
    });
    expect(a.error).toMatchObject({ name: "ArchiveTreeChangedError" });
    expect([...a.entries.keys()]).not.toContain("z/late.txt");
  });

  it("a directory swapped after it was listed: its files still come from the directory listed", () => {
    const a = archive((dir) => {
      if (dir === "z") swapForSymlink("z", host);
    });
    expect(a.error).toBeUndefined();
    expectNoCanary(a);
    expect(a.entries.get("z/secret.txt")?.body).toBe("mine z\n");
    expect(a.entries.get("a.txt")?.body).toBe("mine a\n");
  });

  it("a file swapped for a symlink is skipped with a warning", () => {
    const a = archive((dir) => {
      if (dir !== "z") return;
      rmSync(path.join(ws, "z", "secret.txt"));
      symlinkSync(path.join(host, "secret.txt"), path.join(ws, "z", "secret.txt"));
    });
    expect(a.error).toBeUndefined();
    expectNoCanary(a);
    expect(a.entries.has("z/secret.txt")).toBe(false);
    expect(a.warnings).toEqual(["file vanished or was replaced while archiving: z/secret.txt"]);
  });

  it("a file swapped for a FIFO does not block the walk (its open or its reads)", () => {
    const a = archive((dir) => {
      if (dir !== "z") return;
      rmSync(path.join(ws, "z", "secret.txt"));
      execFileSync("mkfifo", [path.join(ws, "z", "secret.txt")]);
    });
    expect(a.error).toBeUndefined();
    expect(a.warnings).toEqual(["file shrank while archiving: z/secret.txt"]);
    expect(a.entries.get("z/secret.txt")?.body).toBe("\0".repeat("mine z\n".length));
  });
});
