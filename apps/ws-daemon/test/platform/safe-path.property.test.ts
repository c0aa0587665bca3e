import { lstat, mkdir, mkdtemp, readdir, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DomainError, relativePathSegments, resolveInside } from "../../src/platform/index.js";

/**
 * Path confinement as properties (issue 17): for generated names (`..`, `.`, empty, absolute,
 * unicode, NUL, `/` inside a name) and real trees with symlinks (to `..`, to the root, outside,
 * absolute, dangling), `relativePathSegments` and `resolveInside` never produce a path outside
 * the root and never resolve through a symlink; and they refuse exactly what the rules say.
 */
const NAMES = [
  "a",
  "b",
  "dir",
  "file",
  "link",
  "..",
  ".",
  "",
  "ü",
  "日本",
  "e\u0301",
  "a b",
  "..a",
  "a..",
];

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NAMES) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme", minLength: 1, maxLength: 6 }) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 4 }) },
);

const relPath = fc
  .tuple(fc.boolean(), fc.array(segment, { maxLength: 5 }))
  .map(([absolute, parts]) => `${absolute ? "/" : ""}${parts.join("/")}`);

const isInside = (root: string, candidate: string): boolean => {
  const rel = relative(root, candidate);
  return rel !== ".." && !rel.startsWith("../") && !isAbsolute(rel);
};

/** The rules of relativePathSegments, written out independently. */
const refusedBySpelling = (p: string): boolean =>
  p.includes("\0") || p.startsWith("/") || p.split("/").includes("..");

describe("relativePathSegments (property)", () => {
  it("refuses exactly NUL, absolute and `..`; what it accepts stays below any root", () => {
    fc.assert(
      fc.property(relPath, (p) => {
        let segments: string[];
        try {
          segments = relativePathSegments(p, "f");
        } catch (err) {
          expect(err).toBeInstanceOf(DomainError);
          expect(err).toMatchObject({ kind: "invalid-argument" });
          expect(refusedBySpelling(p)).toBe(true);
          return;
        }
        expect(refusedBySpelling(p)).toBe(false);
        expect(segments).toEqual(p.split("/").filter((s) => s !== "" && s !== "."));
        for (const s of segments) {
          expect(["", ".", ".."]).not.toContain(s);
          expect(s).not.toContain("/");
        }
        expect(isInside("/root", join("/root", ...segments))).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

interface Entry {
  path: string[];
  kind: "dir" | "file" | "link";
  target: string;
}

const TREE_NAMES = ["a", "b", "dir", "file", "link", "ü"];

const entry = fc.record({
  path: fc.array(fc.constantFrom(...TREE_NAMES), {
    minLength: 1,
    maxLength: 3,
  }),
  kind: fc.constantFrom<Entry["kind"]>("dir", "file", "link"),
  target: fc.constantFrom("..", "../..", ".", "a", "a/b", "/", "/etc", "@root", "@outside", "nope"),
});

/** Entries named like the trees' entries in the places their links point to. */
const strayNames = async (): Promise<string[]> => {
  const out: string[] = [];
  for (const dir of ["/", "/etc", tmpdir()]) {
    for (const name of await readdir(dir)) if (TREE_NAMES.includes(name)) out.push(join(dir, name));
  }
  return out.sort();
};

describe("resolveInside on real trees with symlinks (property)", () => {
  let base: string;
  let outside: string;
  let run = 0;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "wsd-confine-"));
    outside = join(base, "outside");
    await mkdir(outside);
  });
  afterAll(() => rm(base, { recursive: true, force: true }));

  /**
   * Creates what it can of the entries inside a fresh root. The builder itself never goes
   * through a link: each parent is created or checked with lstat, one component at a time, and
   * an entry whose parent is a link or a file is skipped (the links point at `/`, `/etc`, `..`).
   */
  const makeTree = async (entries: Entry[]): Promise<string> => {
    const root = join(base, `root-${run++}`);
    await mkdir(root);
    for (const e of entries) {
      const target = e.target === "@root" ? root : e.target === "@outside" ? outside : e.target;
      let parent: string | undefined = root;
      for (const name of e.path.slice(0, -1)) {
        const next = join(parent, name);
        const stats = await lstat(next).catch(() => undefined);
        if (!stats) await mkdir(next);
        else if (!stats.isDirectory()) {
          parent = undefined;
          break;
        }
        parent = next;
      }
      if (parent === undefined) continue;
      const at = join(parent, e.path.at(-1) ?? "");
      if (await lstat(at).catch(() => undefined)) continue;
      if (e.kind === "dir") await mkdir(at);
      else if (e.kind === "file") await writeFile(at, "x", { flag: "wx" });
      else await symlink(target, at);
    }
    return root;
  };

  /** The rule of resolveInside, written out independently: refuse or accept. */
  const expected = async (root: string, p: string): Promise<"refuse" | "accept"> => {
    if (refusedBySpelling(p)) return "refuse";
    const segments = p.split("/").filter((s) => s !== "" && s !== ".");
    let current = root;
    for (const [i, s] of segments.entries()) {
      current = join(current, s);
      const stats = await lstat(current).catch(() => undefined);
      if (!stats) return "accept";
      if (stats.isSymbolicLink()) return "refuse";
      if (i < segments.length - 1 && !stats.isDirectory()) return "refuse";
    }
    return "accept";
  };

  it("never resolves outside the root or through a link, and refuses exactly what the rules say", async () => {
    const before = await strayNames();
    await fc.assert(
      fc.asyncProperty(
        fc.array(entry, { maxLength: 8 }),
        fc.array(relPath, { minLength: 1, maxLength: 12 }),
        async (entries, paths) => {
          const root = await makeTree(entries);
          const realRoot = await realpath(root);
          for (const p of paths) {
            const want = await expected(root, p);
            let resolved: string;
            try {
              resolved = await resolveInside(root, p, "f");
            } catch (err) {
              expect(err, JSON.stringify(p)).toBeInstanceOf(DomainError);
              expect(want, JSON.stringify(p)).toBe("refuse");
              continue;
            }
            expect(want, JSON.stringify(p)).toBe("accept");
            expect(isInside(root, resolved)).toBe(true);
            // Every existing component on the way is a real directory (or the last one, no link).
            let current = root;
            for (const part of relative(root, resolved).split("/").filter(Boolean)) {
              current = join(current, part);
              const stats = await lstat(current).catch(() => undefined);
              if (!stats) break;
              expect(stats.isSymbolicLink(), current).toBe(false);
              if (current !== resolved) expect(stats.isDirectory(), current).toBe(true);
              expect(isInside(realRoot, await realpath(current))).toBe(true);
            }
          }
        },
      ),
      { numRuns: 150 },
    );
    // The trees' links point at `/`, `/etc` and the temp dir: the test itself wrote nothing there.
    expect(await strayNames()).toEqual(before);
  });
});
