import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  appendFileSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  truncateSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import {
  ArchiveLimitError,
  ArchiveTreeChangedError,
  type SomeArchiveLimits,
} from "../../src/archive/index.js";
import type { ReusedChunk } from "../../src/chunks/index.js";
import { DomainError } from "../../src/platform/index.js";
import { useWorkDir } from "../archive/work-dir.js";
import { isRoot, notRootReason } from "../support/env.js";
import { nativeChunkerOrReason } from "../support/native-chunker.js";
import { ordinaryTree } from "./native-walk-trees.js";
import { jsWalk, nativeWalk, normalizeStream, type WalkResult } from "./walk-streams.js";

/**
 * The native walk (wsd-chunker --walk) against the JavaScript walk (tar-writer.ts), on ordinary
 * and hostile trees, as root on the real file system: the same framed stream byte for byte (so
 * the same chunks, and a restore of either is the same restore), the same summary and warnings,
 * or the same refusal (class, StatusKind, message). Swaps are played through each walk's fault
 * hook right after a directory was listed, before any of its children is opened.
 */

const MiB = 1024 * 1024;
const CANARY = "CANARY-outside-the-workspace";
const chunker = nativeChunkerOrReason();
const root = isRoot;
const skipReason = !("path" in chunker)
  ? chunker.reason
  : !root
    ? notRootReason("the native walk differential tests (devices, owners)")
    : undefined;
if (skipReason) process.stdout.write(`native walk differential tests not run: ${skipReason}\n`);
const chunkerPath = "path" in chunker ? chunker.path : "";

function errorOf(e: unknown) {
  if (e === undefined) return undefined;
  if (e instanceof DomainError) return { name: e.name, kind: e.kind, message: e.message };
  // anything else reaches the caller as an internal error, whatever its text
  return { name: "not a DomainError" };
}

/**
 * `rebuilt`: the walks ran on two builds of the tree (a hook changed the first), whose inodes and
 * ctimes differ: piece fingerprints are compared by position only.
 */
function expectSame(js: WalkResult, native: WalkResult, rebuilt = false): void {
  expect(errorOf(native.error)).toEqual(errorOf(js.error));
  if (js.error !== undefined) return;
  const a = normalizeStream(js.framed);
  const b = normalizeStream(native.framed);
  const events = (x: typeof a) =>
    rebuilt ? x.events.map((e) => (e.kind === "start" ? { kind: "start" } : e)) : x.events;
  expect(events(b)).toEqual(events(a));
  expect(b.data.length).toBe(a.data.length);
  expect(b.data.equals(a.data)).toBe(true);
  expect(native.summary).toEqual(js.summary);
}

type Options = {
  idShift?: number | undefined;
  limits?: SomeArchiveLimits | undefined;
  pieces?: { settleMs?: number; reusable?: Map<string, ReusedChunk[]> } | undefined;
  afterList?: ((rel: string) => void) | undefined;
};

/**
 * Both walks over `ws`; `prepare` rebuilds the tree before each (a hook may have changed it),
 * with the same times on every entry.
 */
async function both(ws: string, prepare: () => void, o: Options = {}) {
  const build = () => {
    prepare();
    execFileSync("sh", ["-c", 'find "$1" -exec touch -h -d @1600000000.123456789 {} +', "sh", ws]);
  };
  build();
  const js = jsWalk(ws, o);
  build();
  const native = await nativeWalk(chunkerPath, ws, o);
  return { js, native };
}

describe.skipIf(skipReason !== undefined)(
  "the native walk makes the JavaScript walk's stream",
  () => {
    const work = useWorkDir("wsd-native-walk-");
    let ws: string;
    beforeEach(() => {
      ws = work.join("ws");
    });

    it.each([
      { name: "plain", o: {} },
      { name: "with an id shift", o: { idShift: 100_000 } },
      { name: "with pieces", o: { pieces: { settleMs: 0 } } },
      { name: "with pieces, none settled", o: { pieces: { settleMs: 3_600_000 } } },
    ])("on an ordinary tree with everything in it ($name)", async ({ o }) => {
      mkdirSync(ws);
      ordinaryTree(ws, true);
      const js = jsWalk(ws, o);
      const native = await nativeWalk(chunkerPath, ws, o);
      expect(js.error).toBeUndefined();
      expect(js.summary?.warnings.length).toBeGreaterThan(0);
      expectSame(js, native);
    });

    it("skips reading the pieces the store has, and reads the ones whose chunks do not add up", async () => {
      mkdirSync(ws);
      ordinaryTree(ws, true);
      const first = jsWalk(ws, { pieces: { settleMs: 0 } });
      // every piece of the first walk stands as stored chunks, but one of them comes up a byte short
      const reusable = new Map<string, ReusedChunk[]>();
      const events = normalizeStream(first.framed).events;
      events.forEach((e, i) => {
        const data = events[i + 1];
        if (e.kind !== "start" || data?.kind !== "data") return;
        const id = createHash("sha256").update(e.fingerprint).digest("hex");
        reusable.set(e.fingerprint, [{ id, length: data.length }]);
      });
      expect(reusable.size).toBeGreaterThan(3);
      const [forged] = reusable.keys();
      const forgedChunks = forged ? reusable.get(forged) : undefined;
      if (forged && forgedChunks?.[0])
        reusable.set(forged, [{ ...forgedChunks[0], length: forgedChunks[0].length - 1 }]);
      const o = { pieces: { settleMs: 0, reusable } };
      const js = jsWalk(ws, o);
      const native = await nativeWalk(chunkerPath, ws, o);
      expect(js.summary?.skippedBytes).toBeGreaterThan(3 * MiB);
      expect(normalizeStream(js.framed).events.filter((e) => e.kind === "reuse").length).toBe(
        reusable.size - 1,
      );
      expectSame(js, native);
    });

    it.each<{ name: string; limits: SomeArchiveLimits }>([
      { name: "too many entries", limits: { maxEntries: 7 } },
      { name: "a path too long", limits: { maxPathBytes: 12 } },
      { name: "a file too large", limits: { maxEntryBytes: 2 * MiB } },
      { name: "too much content", limits: { maxTotalBytes: 2 * MiB } },
    ])("refuses a tree beyond the limits the same way ($name)", async ({ limits }) => {
      mkdirSync(ws);
      ordinaryTree(ws, true);
      for (const pieces of [undefined, { settleMs: 0 }]) {
        const js = jsWalk(ws, { limits, pieces });
        const native = await nativeWalk(chunkerPath, ws, { limits, pieces });
        expect(js.error).toBeInstanceOf(ArchiveLimitError);
        expect(native.error).toBeInstanceOf(ArchiveLimitError);
        expectSame(js, native);
      }
    });

    it("fails on a name that is not UTF-8, as the JavaScript walk does", async () => {
      mkdirSync(ws);
      writeFileSync(path.join(ws, "fine"), "fine");
      writeFileSync(Buffer.concat([Buffer.from(`${ws}/bad-`), Buffer.of(0xff, 0xfe)]), "bad");
      const js = jsWalk(ws);
      const native = await nativeWalk(chunkerPath, ws);
      expect(js.error).toBeDefined();
      expect(native.error).toBeDefined();
      expectSame(js, native);
    });
  },
);

describe.skipIf(skipReason !== undefined)(
  "the native walk under a workspace that changes the tree",
  () => {
    const work = useWorkDir("wsd-native-walk-swap-");
    let area: string;
    let ws: string;
    let host: string;
    const build = () => {
      rmSync(area, { recursive: true, force: true });
      rmSync(host, { recursive: true, force: true });
      mkdirSync(path.join(ws, "z"), { recursive: true });
      writeFileSync(path.join(ws, "a.txt"), "mine a\n");
      symlinkSync("a.txt", path.join(ws, "b-link"));
      writeFileSync(path.join(ws, "z", "secret.txt"), "mine z\n");
      writeFileSync(path.join(ws, "z", "big.bin"), Buffer.alloc(2 * MiB, 7));
      mkdirSync(path.join(area, "other"));
      writeFileSync(path.join(area, "other", "secret.txt"), `${CANARY} other tenant\n`);
      mkdirSync(host);
      writeFileSync(path.join(host, "secret.txt"), `${CANARY} host\n`);
      writeFileSync(path.join(host, "a.txt"), `${CANARY} host a\n`);
    };
    beforeEach(() => {
      area = work.join("area");
      ws = path.join(area, "ws");
      host = work.join("host-etc");
    });
    /** `attack` runs once, when the walk has listed `dir`. */
    const at = (dir: string, attack: () => void) => (rel: string) => {
      if (rel === dir) attack();
    };
    const z = () => path.join(ws, "z");
    const a = () => path.join(ws, "a.txt");
    const attacks: { name: string; dir: string; attack: () => void; refused?: string }[] = [
      {
        name: "a directory swapped for a symlink to outside",
        dir: "",
        attack: () => {
          renameSync(z(), `${z()}.old`);
          symlinkSync(host, z());
        },
        refused: "now not a directory",
      },
      {
        name: "a directory swapped for a symlink to its parent",
        dir: "",
        attack: () => {
          renameSync(z(), `${z()}.old`);
          symlinkSync("..", z());
        },
        refused: "now not a directory",
      },
      {
        name: "a directory swapped for another tenant's directory",
        dir: "",
        attack: () => {
          renameSync(z(), `${z()}.old`);
          renameSync(path.join(area, "other"), z());
        },
        refused: "now another directory",
      },
      {
        name: "a directory swapped for a file",
        dir: "",
        attack: () => {
          rmSync(z(), { recursive: true });
          writeFileSync(z(), "file now");
        },
        refused: "now not a directory",
      },
      { name: "a directory removed", dir: "", attack: () => rmSync(z(), { recursive: true }) },
      {
        name: "a file swapped for a symlink to outside",
        dir: "",
        attack: () => {
          unlinkSync(a());
          symlinkSync(path.join(host, "a.txt"), a());
        },
      },
      {
        name: "a file swapped for a fifo",
        dir: "",
        attack: () => {
          unlinkSync(a());
          execFileSync("mkfifo", [a()]);
        },
      },
      {
        name: "a file swapped for a device",
        dir: "",
        attack: () => {
          unlinkSync(a());
          execFileSync("mknod", [a(), "c", "1", "5"]);
        },
      },
      {
        name: "a file swapped for a directory",
        dir: "",
        attack: () => {
          unlinkSync(a());
          mkdirSync(a());
        },
      },
      { name: "a file that shrank", dir: "", attack: () => truncateSync(a(), 2) },
      { name: "a file that grew", dir: "", attack: () => appendFileSync(a(), "x".repeat(5000)) },
      { name: "a file removed", dir: "", attack: () => unlinkSync(a()) },
      { name: "a symlink removed", dir: "", attack: () => unlinkSync(path.join(ws, "b-link")) },
      {
        name: "a large file replaced by another of the same size",
        dir: "z",
        attack: () => {
          writeFileSync(path.join(ws, "z", "big.new"), Buffer.alloc(2 * MiB, 9));
          renameSync(path.join(ws, "z", "big.new"), path.join(ws, "z", "big.bin"));
        },
      },
      {
        name: "a large file that shrank",
        dir: "z",
        attack: () => truncateSync(path.join(ws, "z", "big.bin"), MiB),
      },
    ];

    it.each(attacks)("$name: the same stream or refusal, nothing from outside", async (t) => {
      for (const pieces of [undefined, { settleMs: 0 }]) {
        const o = { pieces, afterList: at(t.dir, t.attack) };
        const { js, native } = await both(ws, build, o);
        if (t.refused) {
          expect(js.error).toBeInstanceOf(ArchiveTreeChangedError);
          expect((js.error as Error).message).toContain(t.refused);
        } else {
          expect(js.error).toBeUndefined();
        }
        expect(native.framed.includes(CANARY)).toBe(false);
        expectSame(js, native, true);
        expect(readFileSync(path.join(host, "secret.txt"), "utf8")).toContain(CANARY);
      }
    });
  },
);
