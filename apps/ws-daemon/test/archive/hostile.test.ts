import { existsSync, lstatSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { Readable } from "node:stream";
import { beforeEach, describe, expect, it } from "vitest";
import {
  type ExtractArchiveOptions,
  extractArchive,
  HostileArchiveError,
} from "../../src/archive/index.js";
import { craftArchive, type CraftedEntry as Entry } from "./tar-crafting.js";
import { useHostileTarget, useWorkDir } from "./work-dir.js";

const work = useWorkDir("wsd-hostile-");
const hostile = useHostileTarget(work);
let target: string;
let outside: string;
beforeEach(() => {
  ({ target, outside } = hostile);
});

/** Nothing anywhere under `work` except the target's (now empty) directory and the untouched victim. */
function expectNothingEscaped(): void {
  expect(readdirSync(target)).toEqual([]);
  expect(readdirSync(outside)).toEqual(["victim"]);
  expect(readFileSync(path.join(outside, "victim"), "utf8")).toBe("original\n");
  expect(readdirSync(work.join("ws"))).toEqual(["target"]);
  expect(readdirSync(work.path).sort()).toEqual(["outside", "ws"]);
}

async function expectRefused(entries: Entry[], match: RegExp, options: ExtractArchiveOptions = {}) {
  const archive = await craftArchive(entries);
  const err = await extractArchive(Readable.from([archive]), target, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HostileArchiveError);
  expect((err as Error).message).toMatch(match);
  expectNothingEscaped();
}

describe("hostile archives are refused and nothing is written outside the target", () => {
  it("refuses .. in paths", async () => {
    await expectRefused(
      [
        { name: "ok.txt", body: "fine" },
        { name: "../x", body: "pwned" },
      ],
      /"\.\."/,
    );
    await expectRefused([{ name: "a/../../outside/victim", body: "pwned" }], /"\.\."/);
  });

  it("refuses absolute paths", async () => {
    await expectRefused([{ name: path.join(outside, "abs"), body: "pwned" }], /absolute/);
    await expectRefused([{ name: "/etc/wsd-hostile-test", body: "pwned" }], /absolute/);
    expect(existsSync("/etc/wsd-hostile-test")).toBe(false);
  });

  it("refuses a symlink out of the target, and writes through it even when such links are allowed", async () => {
    const entries: Entry[] = [
      { name: "link", type: "symlink", linkname: outside },
      { name: "link/victim", body: "pwned" },
    ];
    await expectRefused(entries, /absolute symlink target/);
    await expectRefused(entries, /parent link is a symlink/, { symlinks: "inert" });
    await expectRefused(
      [
        { name: "rel", type: "symlink", linkname: "../../outside" },
        { name: "rel/new", body: "pwned" },
      ],
      /leaves the restore target/,
    );
  });

  it("refuses symlink chains that only escape when resolved together", async () => {
    // lexically "a/../outside" stays inside; through a -> "." it resolves to the parent of the target
    await expectRefused(
      [
        { name: "evil", type: "symlink", linkname: "a/../outside" },
        { name: "a", type: "symlink", linkname: "." },
      ],
      /evil.*leaves the restore target/,
    );
  });

  it("keeps harmless symlinks, including absolute ones under the inert policy", async () => {
    const archive = await craftArchive([
      { name: "abs", type: "symlink", linkname: "/usr/bin/python3" },
      { name: "rel", type: "symlink", linkname: "dir/file" },
      { name: "dir/file", body: "x" },
    ]);
    await extractArchive(Readable.from([archive]), target, { symlinks: "inert" });
    expect(lstatSync(path.join(target, "abs")).isSymbolicLink()).toBe(true);
    expect(readFileSync(path.join(target, "rel"), "utf8")).toBe("x");
  });

  it("refuses hard links to files outside the target or not extracted before", async () => {
    await expectRefused([{ name: "h", type: "link", linkname: "/etc/passwd" }], /hard link target/);
    await expectRefused(
      [{ name: "h", type: "link", linkname: "../outside/victim" }],
      /hard link target/,
    );
    await expectRefused(
      [
        { name: "s", type: "symlink", linkname: "x" },
        { name: "h", type: "link", linkname: "s" },
      ],
      /not a regular file extracted earlier/,
    );
  });

  it("refuses device nodes and fifos", async () => {
    await expectRefused(
      [{ name: "null", type: "character-device", devmajor: 1, devminor: 3 }],
      /character-device/,
    );
    await expectRefused(
      [{ name: "sda", type: "block-device", devmajor: 8, devminor: 0 }],
      /block-device/,
    );
    await expectRefused([{ name: "pipe", type: "fifo" }], /fifo/);
  });

  it("refuses oversized entries and archives", async () => {
    await expectRefused([{ name: "big", body: Buffer.alloc(5000) }], /exceeds the entry limit/, {
      maxEntryBytes: 4096,
    });
    await expectRefused(
      [
        { name: "a", body: Buffer.alloc(3000) },
        { name: "b", body: Buffer.alloc(3000) },
      ],
      /exceeds the limit/,
      { maxTotalBytes: 5000 },
    );
    await expectRefused(
      [
        { name: "a", body: "1" },
        { name: "b", body: "2" },
      ],
      /more than 1 entries/,
      { maxEntries: 1 },
    );
  });

  it("refuses entries that replace earlier ones", async () => {
    await expectRefused(
      [
        { name: "d", type: "directory" },
        { name: "d", type: "symlink", linkname: "." },
      ],
      /conflicts with an earlier entry/,
    );
    await expectRefused(
      [
        { name: "f", body: "1" },
        { name: "f", body: "2" },
      ],
      /conflicts with an earlier entry/,
    );
  });
});
