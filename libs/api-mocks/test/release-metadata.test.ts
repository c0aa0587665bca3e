/**
 * The two published packages are released together: same version, the mocks pinned to exactly
 * that SDK, both built while packing, both carrying the repository's LICENSE and a README.
 */
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const libs = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const repoRoot = resolve(libs, "..");

interface Manifest {
  name: string;
  version: string;
  license: string;
  files: string[];
  scripts: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const manifest = async (path: string): Promise<Manifest> =>
  JSON.parse(await readFile(join(repoRoot, path, "package.json"), "utf8")) as Manifest;

describe("release metadata of @ws-daemon/api and @ws-daemon/api-mocks", () => {
  it("have the same version", async () => {
    const [api, mocks] = await Promise.all([manifest("libs/api-ts"), manifest("libs/api-mocks")]);
    expect(
      mocks.version,
      `libs/api-mocks/package.json has ${mocks.version}, libs/api-ts/package.json ${api.version}: release both with one version (docs/releasing-the-sdk.md)`,
    ).toBe(api.version);
  });

  it("the mocks need exactly that version of the SDK", async () => {
    const [api, mocks] = await Promise.all([manifest("libs/api-ts"), manifest("libs/api-mocks")]);
    expect(mocks.peerDependencies?.["@ws-daemon/api"], "peerDependencies").toBe(api.version);
    expect(mocks.devDependencies?.["@ws-daemon/api"], "devDependencies").toBe(api.version);
    expect(mocks.dependencies?.["@ws-daemon/api"], "not a dependency: one copy").toBeUndefined();
  });

  it("every workspace package that uses them names the current version", async () => {
    const api = await manifest("libs/api-ts");
    for (const path of ["apps/ws-daemon", "apps/ws-daemon-e2e", "tools/generate"]) {
      const m = await manifest(path).catch(() => undefined);
      if (m === undefined) continue;
      for (const deps of [m.dependencies, m.devDependencies]) {
        for (const name of ["@ws-daemon/api", "@ws-daemon/api-mocks"]) {
          const range = deps?.[name];
          if (range !== undefined) expect(range, `${path} depends on ${name}`).toBe(api.version);
        }
      }
    }
  });

  it.each(["libs/api-ts", "libs/api-mocks"])(
    "%s builds while packing and ships README.md and LICENSE",
    async (path) => {
      const m = await manifest(path);
      expect(m.scripts.prepack).toBe("tsup");
      expect(m.files).toEqual(expect.arrayContaining(["dist", "README.md", "LICENSE"]));
      expect(m.license).toBe("Apache-2.0");
      const [own, root] = await Promise.all([
        readFile(join(repoRoot, path, "LICENSE"), "utf8"),
        readFile(join(repoRoot, "LICENSE"), "utf8"),
      ]);
      expect(own === root, `${path}/LICENSE is a copy of the root LICENSE`).toBe(true);
      expect(root).toContain(
        "Apache License\n                           Version 2.0, January 2004",
      );
      expect(root).toContain("END OF TERMS AND CONDITIONS");
    },
  );
});
