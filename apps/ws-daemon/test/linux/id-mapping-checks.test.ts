import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import {
  type IdMapping,
  MAX_ID_MAP_LINES,
  validateIdMappings,
  writeIdMapping,
} from "../../src/linux/id-mapping.js";

/**
 * One bad input per check of id-mapping.ts (issue 17, finding 6), each refused by that check
 * alone and recognised by its whole message; boundaries are tested from both sides.
 */
const allowed = { start: 100000, end: 165535 };
const MAX = 0xffff_ffff;

const refusal = (mappings: readonly IdMapping[], range = allowed): string => {
  try {
    validateIdMappings(mappings, range);
  } catch (err) {
    expect(err).toBeInstanceOf(LinuxOpError);
    expect(err).toMatchObject({ kind: "invalid-argument" });
    return (err as Error).message;
  }
  throw new Error("accepted");
};
const one = (containerId: number, hostId: number, size: number): IdMapping => ({
  containerId,
  hostId,
  size,
});

describe("validateIdMappings, one check at a time", () => {
  it("no mapping at all", () => {
    expect(refusal([])).toBe("no id mapping given");
  });

  it("more lines than the kernel takes", () => {
    const many = Array.from({ length: MAX_ID_MAP_LINES + 1 }, (_, i) => one(i, 100000 + i, 1));
    expect(refusal(many)).toBe(`341 id mappings exceed the kernel's limit of 340`);
  });

  it.each([
    ["a negative container id", one(-1, 100000, 1)],
    ["a fractional host id", one(0, 100000.5, 1)],
    ["a size beyond 32 bits", one(0, 100000, MAX + 1)],
    ["a container id beyond 32 bits", one(MAX + 1, 100000, 1)],
    ["a NaN size", one(0, 100000, Number.NaN)],
  ])("not an unsigned 32-bit integer: %s", (_what, mapping) => {
    expect(refusal([one(50, 100050, 1), mapping])).toBe(
      "mapping 1: ids and size must be unsigned 32-bit integers",
    );
  });

  it("the largest 32-bit values are integers the check accepts", () => {
    const wide = { start: 0, end: MAX };
    expect(() => validateIdMappings([one(MAX, MAX, 1)], wide)).not.toThrow();
  });

  it("size 0", () => {
    expect(refusal([one(0, 100000, 0)])).toBe("mapping 0: size must not be 0");
  });

  it("a container range that runs past 2^32 - 1", () => {
    expect(refusal([one(MAX, 100000, 2)])).toBe("mapping 0: range overflows 32 bits");
  });

  it("a host range that runs past 2^32 - 1 (even where the allowed range would reach)", () => {
    expect(refusal([one(0, MAX, 2)], { start: 0, end: MAX })).toBe(
      "mapping 0: range overflows 32 bits",
    );
  });

  it("host start one below the allowed range", () => {
    expect(refusal([one(0, 99999, 1)])).toBe(
      "mapping 0: host ids 99999..99999 are outside the allowed range 100000..165535",
    );
  });

  it("host end one past the allowed range (upstream checked only the start)", () => {
    expect(refusal([one(0, 165535, 2)])).toBe(
      "mapping 0: host ids 165535..165536 are outside the allowed range 100000..165535",
    );
  });

  it("both ends of the allowed range themselves are fine", () => {
    expect(() => validateIdMappings([one(0, 100000, 65536)], allowed)).not.toThrow();
    expect(() => validateIdMappings([one(0, 165535, 1)], allowed)).not.toThrow();
  });

  it("container ranges overlapping by one id (given out of order)", () => {
    expect(refusal([one(10, 100100, 5), one(0, 100000, 11)])).toBe(
      "container id ranges overlap at 10",
    );
  });

  it("host ranges overlapping by one id (given out of order)", () => {
    expect(refusal([one(100, 100010, 5), one(0, 100000, 11)])).toBe(
      "host id ranges overlap at 100010",
    );
  });

  it("ranges that touch without overlapping are fine", () => {
    expect(() =>
      validateIdMappings([one(10, 100010, 5), one(0, 100000, 10), one(15, 100015, 1)], allowed),
    ).not.toThrow();
  });
});

describe("writeIdMapping (against a stand-in /proc)", () => {
  let proc: string;
  const pid = 4242;
  beforeEach(async () => {
    proc = await mkdtemp(join(tmpdir(), "wsd-idmap-"));
    await mkdir(join(proc, String(pid)));
    for (const f of ["uid_map", "gid_map", "setgroups"]) {
      await writeFile(join(proc, String(pid), f), "");
    }
  });
  afterEach(() => rm(proc, { recursive: true, force: true }));

  const read = (f: string) => readFile(join(proc, String(pid), f), "utf8");
  const maps = [one(0, 100000, 1), one(1, 100001, 65535)];

  it("writes one line per mapping to the map of its kind", async () => {
    expect(await writeIdMapping(pid, "uid", maps, { procRoot: proc })).toEqual({ ok: true });
    expect(await read("uid_map")).toBe("0 100000 1\n1 100001 65535\n");
    expect(await read("gid_map")).toBe("");
  });

  it("denySetgroups writes `deny` to setgroups before a gid map", async () => {
    const result = await writeIdMapping(pid, "gid", maps, { procRoot: proc, denySetgroups: true });
    expect(result).toEqual({ ok: true });
    expect(await read("setgroups")).toBe("deny");
    expect(await read("gid_map")).toBe("0 100000 1\n1 100001 65535\n");
  });

  it("without denySetgroups, setgroups is left alone for a gid map", async () => {
    await writeIdMapping(pid, "gid", maps, { procRoot: proc });
    expect(await read("setgroups")).toBe("");
  });

  it("denySetgroups does nothing for a uid map (setgroups is about groups)", async () => {
    await writeIdMapping(pid, "uid", maps, { procRoot: proc, denySetgroups: true });
    expect(await read("setgroups")).toBe("");
  });

  it("a map text of 4096 bytes is refused, 4095 bytes are written", async () => {
    const filler = Array.from({ length: 681 }, () => one(0, 0, 1)); // 681 lines of 6 bytes
    await expect(
      writeIdMapping(pid, "uid", [...filler, one(0, 0, 12345)], { procRoot: proc }),
    ).rejects.toMatchObject({
      kind: "invalid-argument",
      message: "id map text exceeds the kernel's 4095-byte limit",
    });
    expect(await read("uid_map")).toBe("");
    await writeIdMapping(pid, "uid", [...filler, one(0, 0, 1234)], { procRoot: proc });
    expect(Buffer.byteLength(await read("uid_map"))).toBe(4095);
  });

  it("a failed write comes back as data with the errno and the file named", async () => {
    const result = await writeIdMapping(999_999, "gid", maps, { procRoot: proc });
    expect(result).toMatchObject({ ok: false, errno: 2, code: "ENOENT" });
    expect(result.ok === false && result.message).toMatch(
      /^cannot write gid_map of pid 999999: ENOENT/,
    );
  });

  it("a setgroups failure stops before the gid map is written", async () => {
    await rm(join(proc, String(pid), "setgroups"));
    await mkdir(join(proc, String(pid), "setgroups"));
    const result = await writeIdMapping(pid, "gid", maps, { procRoot: proc, denySetgroups: true });
    expect(result).toMatchObject({ ok: false, errno: 21, code: "EISDIR" });
    expect(await read("gid_map")).toBe("");
  });
});
