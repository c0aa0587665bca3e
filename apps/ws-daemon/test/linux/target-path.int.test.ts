import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LinuxOpError } from "../../src/linux/errors.js";
import { resolveTargetPath } from "../../src/linux/target-path.js";
import { type FakeContainer, isRoot, startContainer } from "./support/fake-container.js";

describe.skipIf(!isRoot)("resolveTargetPath inside a process's root", () => {
  let c: FakeContainer;
  let dir: string;
  beforeAll(async () => {
    c = await startContainer();
    dir = await mkdtemp(join(tmpdir(), "wsd-target-"));
    await mkdir(join(dir, "real/sub"), { recursive: true });
    await writeFile(join(dir, "file"), "x");
    await symlink("/", join(dir, "escape"));
    await symlink("real", join(dir, "rel-link"));
  });
  afterAll(async () => {
    await c?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const kindOf = async (target: string) =>
    resolveTargetPath(c.rootPid, target).then(
      () => "ok",
      (err) => (err instanceof LinuxOpError ? err.kind : String(err)),
    );

  it("resolves a plain directory and normalises it", async () => {
    const r = await resolveTargetPath(c.rootPid, `${dir}//real/./sub/`);
    expect(r.inNamespace).toBe(`${dir}/real/sub`);
    expect(r.viaHost).toBe(`/proc/${c.rootPid}/root${dir}/real/sub`);
  });

  it("accepts the root itself", async () => {
    expect((await resolveTargetPath(c.rootPid, "/")).inNamespace).toBe("/");
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
      expect(await kindOf(`${dir}/${target}`)).toBe("invalid-argument");
    });
  }

  it("refuses relative, empty and NUL-containing paths", async () => {
    for (const t of ["relative/path", "", "/tmp/a\0b"])
      expect(await kindOf(t)).toBe("invalid-argument");
  });
});
