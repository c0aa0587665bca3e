import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { HostileArchiveError } from "../../src/archive/index.js";
import {
  normalizeEntryPath,
  type ParsedTarHeader,
  type SafeExtractOptions,
  SafeExtractor,
  symlinkEscapes,
} from "../../src/archive/safe-extractor.js";
import { isRoot } from "../support/env.js";
import { useWorkDir } from "./work-dir.js";

/**
 * One bad input per check of SafeExtractor, refused by that check alone (its message says which),
 * and the nearest legitimate input beside it, accepted: a check that refused too much, or not at
 * all, fails here. Drives the extractor directly, as the extract worker does.
 */

/** A header, its content, and whether it goes without the default mtime the helper gives. */
type Entry = ParsedTarHeader & { body?: string; noMtime?: boolean };

const work = useWorkDir("wsd-extractor-");
let target: string;
beforeEach(() => {
  target = work.join("target");
  mkdirSync(target);
  writeFileSync(work.join("outside"), "outside\n");
});

/** What the last extract() counted. */
let counted = { entries: 0, contentBytes: 0 };

/** Extracts `entries` into `target`; the error, if any (everything else is the tree). */
function extract(entries: Entry[], options: SafeExtractOptions = {}): unknown {
  const extractor = new SafeExtractor(target, { chown: false, ...options });
  counted = extractor;
  try {
    for (const { body, noMtime, ...header } of entries) {
      const sink = extractor.entry(noMtime ? header : { mtimeSeconds: 1_600_000_000, ...header });
      if (body !== undefined) sink?.write(Buffer.from(body));
      sink?.end();
    }
    extractor.finish();
    return undefined;
  } catch (err) {
    return err;
  } finally {
    extractor.abort();
  }
}

/** `entries` must be refused with a HostileArchiveError whose message matches `reason`. */
function expectRefused(entries: Entry[], reason: RegExp, options: SafeExtractOptions = {}) {
  const err = extract(entries, options);
  expect(err).toBeInstanceOf(HostileArchiveError);
  expect((err as Error).message).toMatch(reason);
  expect(readFileSync(work.join("outside"), "utf8")).toBe("outside\n");
}

function expectAccepted(entries: Entry[], options: SafeExtractOptions = {}) {
  expect(extract(entries, options)).toBeUndefined();
}

const file = (name: string, body = "x", more: Partial<Entry> = {}): Entry => ({
  name,
  type: "file",
  size: Buffer.byteLength(body),
  body,
  mode: 0o644,
  ...more,
});
const dir = (name: string, more: Partial<Entry> = {}): Entry => ({
  name,
  type: "directory",
  mode: 0o755,
  ...more,
});
const symlink = (name: string, linkname: string): Entry => ({ name, type: "symlink", linkname });
const hardlink = (name: string, linkname: string): Entry => ({ name, type: "link", linkname });
const st = (rel: string) => lstatSync(path.join(target, rel));
const mode = (rel: string) => st(rel).mode & 0o7777;

describe("entry paths", () => {
  it("normalizes ./, // and trailing slashes, keeping names that merely contain dots", () => {
    expect(normalizeEntryPath("./a//b/")).toBe("a/b");
    expect(normalizeEntryPath(".")).toBe("");
    expect(normalizeEntryPath("./")).toBe("");
    expect(normalizeEntryPath("a..b/..c/c..")).toBe("a..b/..c/c..");
    expectAccepted([file("./a//b/c.txt"), file("..hidden", "xy"), file("x/...")]);
    expect(readFileSync(path.join(target, "a/b/c.txt"), "utf8")).toBe("x");
    expect({ entries: counted.entries, contentBytes: counted.contentBytes }).toEqual({
      entries: 3,
      contentBytes: 4,
    });
  });

  it("refuses an empty name", () => expectRefused([file("")], /empty or invalid path/));
  it("refuses a NUL byte in a name", () => expectRefused([file("a\0b")], /empty or invalid path/));
  it("refuses an absolute name", () =>
    expectRefused([file("/etc/x")], /absolute paths are not allowed/));
  it("refuses a .. component", () =>
    expectRefused([file("a/../../x")], /"\.\." is not allowed in paths/));

  it("refuses a path longer than the limit, not one at it", () => {
    expectAccepted([file("abcd")], { maxPathBytes: 4 });
    expect(readdirSync(target)).toEqual(["abcd"]);
    expectRefused([file("abcde")], /a path of 5 bytes exceeds the limit of 4/, {
      maxPathBytes: 4,
    });
  });

  it("refuses entries beyond the count limit, not the last one within it", () => {
    expectAccepted([dir("."), file("a")], { maxEntries: 2 });
    expectRefused([dir("."), file("b"), file("c")], /more than 2 entries/, { maxEntries: 2 });
  });
});

describe("ids, modes and times", () => {
  it("accepts the full range of ids the kernel stores", () => {
    expectAccepted([
      file("low", "x", { uid: 0, gid: 0 }),
      file("high", "x", { uid: 0xfffffffe, gid: 0xfffffffe }),
    ]);
  });

  const invalid: [string, Partial<Entry>, SafeExtractOptions][] = [
    ["a uid made negative by the id shift", { uid: 5, gid: 500 }, { idShift: -10 }],
    ["a gid made negative by the id shift", { uid: 500, gid: 5 }, { idShift: -10 }],
    ["a negative uid", { uid: -1, gid: 0 }, {}],
    ["a negative gid", { uid: 0, gid: -1 }, {}],
    ['uid 2^32-1 ("unchanged" to chown)', { uid: 0xffffffff, gid: 0 }, {}],
    ["gid 2^32-1", { uid: 0, gid: 0xffffffff }, {}],
    ["a fractional uid", { uid: 1.5, gid: 0 }, {}],
    ["a fractional gid", { uid: 0, gid: 1.5 }, {}],
    ["an infinite mtime", { mtimeSeconds: Number.POSITIVE_INFINITY }, {}],
    ["a NaN mtime", { mtimeSeconds: Number.NaN }, {}],
  ];
  for (const [what, fields, options] of invalid) {
    it(`refuses ${what}`, () =>
      expectRefused([file("f", "x", fields)], /invalid uid, gid or mtime/, options));
  }

  it("keeps permission bits only, defaults a missing mode to 0644 and a missing mtime to now", () => {
    const before = Date.now() / 1000;
    expectAccepted([
      file("typed", "x", { mode: 0o100640 }),
      { name: "plain", type: "file", size: 1, body: "x" },
      { name: "fresh", type: "file", size: 0, noMtime: true },
    ]);
    expect(mode("typed")).toBe(0o640);
    expect(mode("plain")).toBe(0o644);
    expect(st("typed").mtimeMs).toBe(1_600_000_000_000);
    expect(st("fresh").mtimeMs / 1000).toBeGreaterThanOrEqual(Math.floor(before));
    expect(st("fresh").mtimeMs / 1000).toBeLessThan(before + 24 * 60 * 60);
  });

  it("strips setuid and setgid from files unless told to keep them; directories keep theirs", () => {
    expectAccepted([
      dir("shared", { mode: 0o3775 }),
      file("suid", "x", { mode: 0o4755 }),
      file("sgid", "x", { mode: 0o2711 }),
      file("sticky", "x", { mode: 0o1644 }),
    ]);
    expect([mode("shared"), mode("suid"), mode("sgid"), mode("sticky")]).toEqual([
      0o3775, 0o755, 0o711, 0o1644,
    ]);
    target = work.join("kept");
    mkdirSync(target);
    expectAccepted([file("suid", "x", { mode: 0o4755 })], { keepSetid: true });
    expect(mode("suid")).toBe(0o4755);
  });

  it("gives directories, the root included, their mode and mtime once their children are in", () => {
    expectAccepted([
      dir(".", { mode: 0o750, mtimeSeconds: 1_500_000_000 }),
      dir("ro", { mode: 0o555, mtimeSeconds: 1_500_000_100 }),
      file("ro/inside"),
      dir("ro/sub", { mode: 0o700, mtimeSeconds: 1_500_000_200 }),
      file("ro/sub/deeper"),
    ]);
    expect([mode("."), mode("ro"), mode("ro/sub")]).toEqual([0o750, 0o555, 0o700]);
    expect([st(".").mtimeMs, st("ro").mtimeMs, st("ro/sub").mtimeMs]).toEqual([
      1_500_000_000_000, 1_500_000_100_000, 1_500_000_200_000,
    ]);
  });

  it("applies directory modes deepest first, so a parent without search permission does not lock its children out (visible when not root)", () => {
    expectAccepted([
      dir(".", { mode: 0o700 }),
      dir("p", { mode: 0o600 }),
      dir("p/c", { mode: 0o750 }),
      file("p/c/f"),
    ]);
    expect(mode("p")).toBe(0o600);
    chmodSync(path.join(target, "p"), 0o700);
    expect(mode("p/c")).toBe(0o750);
  });

  it("gives symlinks their mtime", () => {
    expectAccepted([{ ...symlink("l", "x"), mtimeSeconds: 1_400_000_000 }]);
    expect(st("l").mtimeMs).toBe(1_400_000_000_000);
  });
});

describe.skipIf(!isRoot)("ownership (as root)", () => {
  const owners = () => ["d", "d/f", "l", "."].map((rel) => `${rel} ${st(rel).uid}:${st(rel).gid}`);
  const tree: Entry[] = [
    dir(".", { uid: 7, gid: 8 }),
    dir("d", { uid: 1000, gid: 1001 }),
    file("d/f", "x", { uid: 1234, gid: 5678 }),
    { ...symlink("l", "d/f"), uid: 42, gid: 43 },
  ];

  it("applies the stored ids by default when root, shifted by idShift", () => {
    expectAccepted(tree, { chown: undefined, idShift: 100 });
    expect(owners()).toEqual(["d 1100:1101", "d/f 1334:5778", "l 142:143", ". 107:108"]);
  });

  it("gives everything to `owner` when one is set, whatever the archive says", () => {
    expectAccepted(tree, { chown: undefined, idShift: 100, owner: { uid: 33333, gid: 33334 } });
    expect(owners()).toEqual([
      "d 33333:33334",
      "d/f 33333:33334",
      "l 33333:33334",
      ". 33333:33334",
    ]);
  });

  it("leaves ownership alone with chown off", () => {
    expectAccepted(tree, { chown: false, owner: { uid: 33333, gid: 33333 } });
    expect(owners()).toEqual(["d 0:0", "d/f 0:0", "l 0:0", ". 0:0"]);
  });

  it("keeps set-id bits asked to keep them although chown clears them", () => {
    expectAccepted([file("suid", "x", { mode: 0o6755, uid: 5, gid: 5 })], {
      chown: true,
      keepSetid: true,
    });
    expect(mode("suid")).toBe(0o6755);
  });
});

describe("entry types", () => {
  for (const type of ["character-device", "block-device", "fifo", 'unknown ("S")']) {
    it(`refuses a ${type}`, () =>
      expectRefused(
        [{ name: "x", type }],
        new RegExp(`entry type ${literally(type)} is not allowed`),
      ));
  }
  it("refuses an entry without a type", () =>
    expectRefused([{ name: "x" }], /entry type unknown is not allowed/));

  it("takes a contiguous file as a regular file", () => {
    expectAccepted([{ name: "c", type: "contiguous-file", size: 3, body: "abc" }]);
    expect(readFileSync(path.join(target, "c"), "utf8")).toBe("abc");
  });

  it("refuses a new entry while a file's content is still being written", () => {
    const extractor = new SafeExtractor(target, { chown: false });
    extractor.entry({ name: "a", type: "file", size: 5 });
    expect(() => extractor.entry({ name: "b", type: "file", size: 1 })).toThrow(
      /entry b started before the previous file ended/,
    );
    const before = readdirSync("/proc/self/fd").length;
    extractor.abort();
    expect(readdirSync("/proc/self/fd").length).toBe(before - 1);
    extractor.abort();
    expect(readdirSync("/proc/self/fd").length).toBe(before - 1);
  });
});

describe("the restore target itself", () => {
  it("refuses a file in its place", () =>
    expectRefused([file(".")], /a file cannot replace the restore target/));
  it("refuses a symlink in its place", () =>
    expectRefused([symlink("./", "x")], /a symlink cannot replace the restore target/));
  it("refuses a hard link in its place", () =>
    expectRefused(
      [file("f"), hardlink(".", "f")],
      /a hard link cannot replace the restore target/,
    ));
});

describe("files", () => {
  it("refuses a file beyond the entry limit, not one at it", () => {
    expectAccepted([file("a", "1234")], { maxEntryBytes: 4 });
    expectRefused([file("b", "12345")], /5 bytes exceeds the entry limit of 4/, {
      maxEntryBytes: 4,
    });
  });

  it("refuses content beyond the total limit, not content at it", () => {
    expectAccepted([file("a", "12"), file("b", "34")], { maxTotalBytes: 4 });
    expectRefused([file("c", "12"), file("d", "345")], /archive content exceeds the limit of 4/, {
      maxTotalBytes: 4,
    });
  });

  it("counts a sparse file by its real size against the entry limit, by its data against the total", () => {
    const sparse = (name: string, realSize: number): Entry => ({
      name,
      type: "file",
      size: 2,
      body: "ab",
      sparse: { realSize, segments: [{ offset: realSize - 2, size: 2 }] },
    });
    expectAccepted([sparse("s", 100), sparse("t", 100)], { maxEntryBytes: 100, maxTotalBytes: 4 });
    expect(readFileSync(path.join(target, "s"))).toEqual(
      Buffer.concat([Buffer.alloc(98), Buffer.from("ab")]),
    );
    expectRefused([sparse("u", 101)], /101 bytes exceeds the entry limit of 100/, {
      maxEntryBytes: 100,
    });
  });

  it("refuses a second file of the same name", () =>
    expectRefused([file("f", "1"), file("f", "2")], /conflicts with an earlier entry \(EEXIST\)/));

  it("refuses a file where a symlink is (never writing through it)", () => {
    expectRefused(
      [symlink("s", "../outside"), file("s")],
      /conflicts with an earlier entry \(EEXIST\)/,
      {
        symlinks: "inert",
      },
    );
  });

  it("passes the file system's own errors through as they are, and stops there", () => {
    for (const entries of [
      [file("x".repeat(300))],
      [dir("y".repeat(300))],
      [file(`${"z".repeat(300)}/f`)],
    ]) {
      const err = extract([...entries, file("after")]);
      expect(err).not.toBeInstanceOf(HostileArchiveError);
      expect(err).toMatchObject({ code: "ENAMETOOLONG" });
      expect(readdirSync(target)).toEqual([]);
    }
  });
});

describe("parents", () => {
  it("creates missing parents", () => {
    expectAccepted([file("a/b/c")]);
    expect(st("a/b").isDirectory()).toBe(true);
    expect([mode("a"), mode("a/b")]).toEqual([0o755, 0o755]);
  });

  it("refuses to write through a symlink, even one that stays inside", () => {
    expectRefused(
      [dir("real"), symlink("s", "real"), file("s/f")],
      /parent s is a symlink; refusing to write through it/,
    );
    expect(readdirSync(path.join(target, "real"))).toEqual([]);
  });

  it("refuses a file as a parent", () =>
    expectRefused([file("f"), file("f/g")], /parent f is a file/));

  it("refuses a directory where a file or a symlink is", () => {
    expectRefused([file("f"), dir("f")], /directory conflicts with an earlier entry/);
    expectRefused([symlink("s", "x"), dir("s")], /directory conflicts with an earlier entry/);
  });

  it("accepts a directory listed twice, or after its children", () => {
    expectAccepted([dir("d"), dir("d"), file("e/f"), dir("e", { mode: 0o700 })]);
    expect(mode("e")).toBe(0o700);
  });
});

describe("symlinks", () => {
  it("refuses an empty target", () =>
    expectRefused([symlink("s", "")], /empty or invalid symlink target/));
  it("refuses a missing target", () =>
    expectRefused(
      [{ name: "s", type: "symlink", linkname: null }],
      /empty or invalid symlink target/,
    ));
  it("refuses a target with a NUL byte", () =>
    expectRefused([symlink("s", "a\0b")], /empty or invalid symlink target/));
  it("refuses an absolute target when contained", () =>
    expectRefused([symlink("s", "/etc")], /absolute symlink target "\/etc" leaves/));
  // refused as the link comes, before anything can be written below it
  it("refuses a target that leaves lexically: .. itself", () =>
    expectRefused(
      [symlink("s", ".."), file("s/x")],
      /"s": symlink target "\.\." leaves the restore target$/,
    ));
  it("refuses a target that leaves lexically: ../x from a subdirectory", () =>
    expectRefused(
      [symlink("d/s", "../../x"), file("d/s/y")],
      /"d\/s": symlink target "\.\.\/\.\.\/x" leaves the restore target$/,
    ));
  it("refuses a second symlink of the same name", () =>
    expectRefused([symlink("s", "a"), symlink("s", "b")], /conflicts with an earlier entry/));

  it("keeps targets with .. that stay inside, and any target when inert", () => {
    expectAccepted([symlink("d/up", "../f"), symlink("d/e/up2", "../../d/./x//y"), file("f")]);
    expect(readlinkSync(path.join(target, "d/e/up2"))).toBe("../../d/./x//y");
    target = work.join("inert");
    mkdirSync(target);
    expectAccepted([symlink("abs", "/usr/bin/python3"), symlink("up", "../../etc")], {
      symlinks: "inert",
    });
    expect(readlinkSync(path.join(target, "abs"))).toBe("/usr/bin/python3");
  });

  it("restores a legitimate chain of symlinks, with .. through the links", () => {
    expectAccepted([
      dir("a/b/c"),
      file("a/f", "found"),
      // x -> a/b/link -> c -> .. : resolves to a/b, then ../f is a/f
      symlink("a/b/link", "c/.."),
      symlink("x", "a/b/link/../f"),
      symlink("chain1", "chain2"),
      symlink("chain2", "a/b/link"),
    ]);
    expect(readFileSync(path.join(target, "x"), "utf8")).toBe("found");
  });

  it("refuses a chain that only leaves when resolved, however it is ordered", () => {
    const chain = [symlink("evil", "a/../outside"), symlink("a", ".")];
    expectRefused(
      chain,
      /"evil": symlink target "a\/\.\.\/outside" leaves the restore target through other symlinks/,
    );
    target = work.join("reversed");
    mkdirSync(target);
    expectRefused([...chain].reverse(), /"evil": symlink target/);
    target = work.join("inert");
    mkdirSync(target);
    expectAccepted(chain, { symlinks: "inert" });
  });
});

describe("hard links", () => {
  it("links to a file extracted earlier, and to a hard link of one", () => {
    expectAccepted([file("f", "same"), hardlink("h1", "./f"), hardlink("d/h2", "h1")]);
    expect(st("d/h2").ino).toBe(st("f").ino);
    expect(st("f").nlink).toBe(3);
  });

  for (const [what, linkname] of [
    ["an absolute target", "/etc/passwd"],
    ["a target with ..", "../outside"],
    ["an empty target", ""],
  ] as const) {
    it(`refuses ${what}`, () =>
      expectRefused(
        [file("f"), hardlink("h", linkname)],
        /hard link target .* leaves the restore target/,
      ));
  }

  it("refuses a hard link without a target", () =>
    expectRefused(
      [file("f"), { name: "h", type: "link", linkname: null }],
      /hard link target "" leaves the restore target/,
    ));

  it("refuses a target that is not a regular file from this archive", () => {
    for (const earlier of [dir("t"), symlink("t", "f")]) {
      target = work.join(`t-${earlier.type}`);
      mkdirSync(target);
      expectRefused(
        [file("f"), earlier, hardlink("h", "t")],
        /hard link target "t" is not a regular file extracted earlier from this archive/,
      );
    }
    target = work.join("later");
    mkdirSync(target);
    expectRefused([hardlink("h", "f"), file("f")], /not a regular file extracted earlier/);
  });

  it("refuses a hard link where a file is", () =>
    expectRefused(
      [file("f"), file("g"), hardlink("g", "f")],
      /conflicts with an earlier entry \(EEXIST\)/,
    ));
});

/**
 * The resolution finish() runs over the final set of symlinks, as a pure function: every step of
 * it, including what the lexical checks at entry time never let through.
 */
describe("symlinkEscapes", () => {
  const links = (pairs: Record<string, string>) => new Map(Object.entries(pairs));

  it("follows links and .. as the kernel would", () => {
    const tree = links({ "a/b/link": "c/..", up: "a/b/link/../..", dot: "." });
    expect(symlinkEscapes(tree, "x", "a/b/link/../f")).toBe(false);
    expect(symlinkEscapes(tree, "a/b/y", "link/../../f")).toBe(false);
    // a/b/link is a/b: two levels up is the root, inside; three is outside
    expect(symlinkEscapes(tree, "x", "up")).toBe(false);
    expect(symlinkEscapes(tree, "x", "up/..")).toBe(true);
    expect(symlinkEscapes(tree, "x", "dot/../x")).toBe(true);
    expect(symlinkEscapes(tree, "d/x", "../dot/f")).toBe(false);
  });

  it("continues from where a link resolved to, not from where it was", () => {
    // deep/er is two levels down: from there, ../.. is the root, not above it
    const tree = links({ l: "deep/er" });
    expect(symlinkEscapes(tree, "x", "l/../../f")).toBe(false);
    expect(symlinkEscapes(tree, "x", "l/../../../f")).toBe(true);
  });

  it("starts from the directory the link is in", () => {
    expect(symlinkEscapes(links({}), "dd/x", "../f")).toBe(false);
    expect(symlinkEscapes(links({}), "dd/x", "../../f")).toBe(true);
    expect(symlinkEscapes(links({}), "dd/ee/x", "../../f")).toBe(false);
  });

  it("skips empty and . components", () => {
    expect(symlinkEscapes(links({}), "d/x", ".//./f")).toBe(false);
    expect(symlinkEscapes(links({}), "d/x", "..//../f")).toBe(true);
  });

  it("treats an absolute target anywhere in the chain as leaving", () => {
    expect(symlinkEscapes(links({ abs: "/etc" }), "x", "abs/passwd")).toBe(true);
    expect(symlinkEscapes(links({}), "x", "/x")).toBe(true);
  });

  it("stops after 40 links, as the kernel does (ELOOP resolves nowhere)", () => {
    const chainOf = (n: number) => {
      const tree = new Map<string, string>();
      for (let i = 0; i < n; i++) tree.set(`l${i}`, `l${i + 1}`);
      tree.set(`l${n}`, "..");
      return tree;
    };
    // the first 40 links are followed: a chain that escapes at the 40th is caught
    expect(symlinkEscapes(chainOf(39), "x", "l0")).toBe(true);
    expect(symlinkEscapes(chainOf(40), "x", "l0")).toBe(false);
    expect(symlinkEscapes(links({ a: "b", b: "a" }), "x", "a")).toBe(false);
  });
});

/** A RegExp source matching `s` literally. */
function literally(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
