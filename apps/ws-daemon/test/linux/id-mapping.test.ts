import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import {
  type IdMapping,
  MAX_ID_MAP_LINES,
  validateIdMappings,
  writeIdMapping,
} from "../../src/linux/id-mapping.js";
import { type FakeContainer, isRoot, startContainer } from "./support/fake-container.js";
import { workspaceFor } from "./support/workspace.js";

const allowed = { start: 100000, end: 165535 };
const kindOf = (fn: () => void) => {
  try {
    fn();
  } catch (err) {
    return err instanceof LinuxOpError ? err.kind : "other";
  }
  return "ok";
};

describe("validateIdMappings", () => {
  it("accepts a typical workspace mapping reaching exactly the end of the range", () => {
    expect(
      kindOf(() => validateIdMappings([{ containerId: 0, hostId: 100000, size: 65536 }], allowed)),
    ).toBe("ok");
    expect(
      kindOf(() =>
        validateIdMappings(
          [
            { containerId: 0, hostId: 100000, size: 1 },
            { containerId: 1, hostId: 100001, size: 65535 },
          ],
          allowed,
        ),
      ),
    ).toBe("ok");
  });

  const bad: Array<[string, IdMapping[]]> = [
    ["empty list", []],
    ["size 0", [{ containerId: 0, hostId: 100000, size: 0 }]],
    ["host end one past the range end", [{ containerId: 0, hostId: 100000, size: 65537 }]],
    ["host start below the range", [{ containerId: 0, hostId: 99999, size: 1 }]],
    ["negative id", [{ containerId: -1, hostId: 100000, size: 1 }]],
    ["fractional id", [{ containerId: 0.5, hostId: 100000, size: 1 }]],
    ["32-bit overflow", [{ containerId: 0xffff_ffff, hostId: 100000, size: 2 }]],
    [
      "overlapping container ranges",
      [
        { containerId: 0, hostId: 100000, size: 10 },
        { containerId: 5, hostId: 100100, size: 10 },
      ],
    ],
    [
      "overlapping host ranges",
      [
        { containerId: 0, hostId: 100000, size: 10 },
        { containerId: 100, hostId: 100009, size: 10 },
      ],
    ],
  ];
  for (const [name, mappings] of bad) {
    it(`rejects ${name} as invalid-argument`, () => {
      expect(kindOf(() => validateIdMappings(mappings, allowed))).toBe("invalid-argument");
    });
  }

  it("enforces the kernel's line limit", () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ containerId: i, hostId: 100000 + i, size: 1 }));
    expect(kindOf(() => validateIdMappings(many(MAX_ID_MAP_LINES), allowed))).toBe("ok");
    expect(kindOf(() => validateIdMappings(many(MAX_ID_MAP_LINES + 1), allowed))).toBe(
      "invalid-argument",
    );
  });
});

describe.skipIf(!isRoot)("writeIdMapping on a real user namespace", () => {
  let c: FakeContainer;
  beforeAll(async () => {
    c = await startContainer(["unshare --user sleep 3611"], ["sleep 3611"]);
  });
  afterAll(async () => {
    await c?.stop();
  });

  it("writes uid_map and gid_map and the kernel reports them back", async () => {
    const target = await c.find("sleep 3611");
    const maps = [
      { containerId: 0, hostId: 133332, size: 1 },
      { containerId: 1, hostId: 100000, size: 33332 },
    ];
    expect(await writeIdMapping(target.hostPid, "uid", maps)).toEqual({ ok: true });
    expect(await writeIdMapping(target.hostPid, "gid", maps)).toEqual({ ok: true });
    for (const f of ["uid_map", "gid_map"]) {
      const lines = (await readFile(`/proc/${target.hostPid}/${f}`, "utf8")).trim().split("\n");
      expect(lines.map((l) => l.trim().split(/\s+/).map(Number))).toEqual([
        [0, 133332, 1],
        [1, 100000, 33332],
      ]);
    }
    // setgroups stays allowed: the workspace may still call setgroups(2)
    expect((await readFile(`/proc/${target.hostPid}/setgroups`, "utf8")).trim()).toBe("allow");
  });

  it("WorkspaceLinux.writeIdMapping resolves the container pid and validates first", async () => {
    const { ws } = workspaceFor(c.rootPid);
    const target = await c.find("sleep 3611");
    const ok = [{ containerId: 0, hostId: 100000, size: 1 }];
    // already mapped by the previous test: the kernel's EPERM comes back as data, not as a throw
    expect(await ws.writeIdMapping(target.nsPids[1] as number, false, ok)).toMatchObject({
      ok: false,
      errno: 1,
    });
    const outOfRange = [{ containerId: 0, hostId: 165535, size: 2 }];
    await expect(
      ws.writeIdMapping(target.nsPids[1] as number, false, outOfRange),
    ).rejects.toMatchObject({
      kind: "invalid-argument",
    });
    await expect(ws.writeIdMapping(3999, false, ok)).rejects.toMatchObject({
      kind: "permission-denied",
    });
    await expect(ws.writeIdMapping(-1, true, ok)).rejects.toMatchObject({
      kind: "invalid-argument",
    });
  });

  it("returns the kernel's errno when the map is already written", async () => {
    const target = await c.find("sleep 3611");
    const res = await writeIdMapping(target.hostPid, "uid", [
      { containerId: 0, hostId: 100000, size: 1 },
    ]);
    expect(res).toMatchObject({ ok: false, errno: 1, code: "EPERM" });
  });

  it("returns ENOENT-style errors for a vanished pid", async () => {
    const res = await writeIdMapping(4_194_000, "uid", [
      { containerId: 0, hostId: 100000, size: 1 },
    ]);
    expect(res).toMatchObject({ ok: false, code: "ENOENT", errno: 2 });
  });
});
