import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { resolveTargetPath } from "../../src/linux/target-path.js";
import { errorKind } from "./support/error-kind.js";
import { containerForSuite, isRoot, tempDirForSuite } from "./support/fake-container.js";

describe.skipIf(!isRoot)("resolveTargetPath inside a process's root", () => {
  const c = containerForSuite();
  const dir = tempDirForSuite("wsd-target-");
  beforeAll(async () => {
    await mkdir(join(dir(), "real/sub"), { recursive: true });
    await writeFile(join(dir(), "file"), "x");
    await symlink("/", join(dir(), "escape"));
    await symlink("real", join(dir(), "rel-link"));
  });

  const kindOf = (target: string) => errorKind(resolveTargetPath(c().rootPid, target));

  it("resolves a plain directory and normalises it", async () => {
    const r = await resolveTargetPath(c().rootPid, `${dir()}//real/./sub/`);
    expect(r.inNamespace).toBe(`${dir()}/real/sub`);
    expect(r.viaHost).toBe(`/proc/${c().rootPid}/root${dir()}/real/sub`);
  });

  it("accepts the root itself", async () => {
    expect((await resolveTargetPath(c().rootPid, "/")).inNamespace).toBe("/");
  });

  for (const [name, target] of [
    ["an absolute symlink escape", "escape/etc"],
    ["a relative symlink", "rel-link/sub"],
    ["a symlink as the last component", "escape"],
    ["a .. component", "real/../real"],
    ["a missing path", "nope"],
    ["a file where a directory is needed", "file"],
  ] as const) {
    it(`refuses ${name}`, async () => {
      expect(await kindOf(`${dir()}/${target}`)).toBe("invalid-argument");
    });
  }

  it("refuses relative, empty and NUL-containing paths", async () => {
    for (const t of ["relative/path", "", "/tmp/a\0b"])
      expect(await kindOf(t)).toBe("invalid-argument");
  });
});
