import { cp, mkdir, mkdtemp, readdir, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import * as path from "node:path";

export const repo = path.resolve(__dirname, "..", "..", "..", "..");

/** What generation needs: the protos, buf's configuration and the generator. */
const generatorInputs = [
  "proto",
  "buf.yaml",
  "buf.gen.yaml",
  "buf.gen.cri.yaml",
  "apps/ws-daemon/proto-cri",
  "tools/generate/src",
  "tools/generate/license-header.txt",
  "tsconfig.base.json",
];

/** Hand-written sources and configuration of both libraries, never their gen/ or dist/. */
const libraryFiles = [
  "libs/api-ts/src",
  "libs/api-ts/package.json",
  "libs/api-ts/tsconfig.json",
  "libs/api-ts/tsup.config.ts",
  "libs/api-mocks/src",
  "libs/api-mocks/package.json",
  "libs/api-mocks/tsconfig.json",
  "libs/api-mocks/vitest.config.ts",
];

/**
 * A temporary copy of the repository as far as generation and the two libraries go, without
 * generated code or builds. Its node_modules links every third-party package of the
 * repository but resolves `@ws-daemon/*` to the copy's own libraries, as npm's workspace links
 * do, so whatever the copy's `libs/api-ts/dist` holds (nothing, at first) is what a consumer
 * importing `@ws-daemon/api` gets.
 */
export async function copyRepository(prefix: string): Promise<string> {
  const copy = await mkdtemp(path.join(tmpdir(), prefix));
  for (const entry of generatorInputs) {
    await cp(path.join(repo, entry), path.join(copy, entry), { recursive: true });
  }
  for (const entry of libraryFiles) {
    await cp(path.join(repo, entry), path.join(copy, entry), {
      recursive: true,
      filter: (src) => !src.split(path.sep).includes("gen"),
    });
  }
  const modules = path.join(copy, "node_modules");
  await mkdir(path.join(modules, "@ws-daemon"), { recursive: true });
  for (const entry of await readdir(path.join(repo, "node_modules"))) {
    if (entry === "@ws-daemon") continue;
    await symlink(path.join(repo, "node_modules", entry), path.join(modules, entry));
  }
  await symlink("../../libs/api-ts", path.join(modules, "@ws-daemon", "api"));
  await symlink("../../libs/api-mocks", path.join(modules, "@ws-daemon", "api-mocks"));
  // The libraries are ES modules, as in the repository.
  await writeFile(
    path.join(copy, "package.json"),
    JSON.stringify({ type: "module", private: true }),
  );
  return copy;
}
