import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import * as path from "node:path";
import { sh } from "./shell.js";

/**
 * The Node.js releases the SDK is proven on: the newest of each supported line when last
 * updated. Bump them to follow the lines; `engines` in both libraries' package.json names the
 * same lines (checked by the pack test). One that is the running Node is used as it is.
 */
export const nodeLines = ["20.20.2", "22.23.5", "24.22.3", "26.12.1"] as const;

/** The official binaries are published on the npm registry as `node-<platform>-<arch>`. */
export const nodePackage = `node-${process.platform}-${process.arch}`;

/**
 * The path of a `node` binary of the given version: the running one, or one fetched once with
 * `npm pack` from the npm
 * registry and kept under `node_modules/.cache/node-lines` (ignored, and gone with a fresh
 * `npm ci`). Fails with a message saying what could not be fetched: a test that proves the SDK
 * on a Node line must not pass without that line.
 */
export async function nodeBinary(version: string, repoRoot: string): Promise<string> {
  if (process.versions.node === version) return process.execPath;
  const cache = path.join(repoRoot, "node_modules", ".cache", "node-lines");
  const dir = path.join(cache, `v${version}-${process.platform}-${process.arch}`);
  const binary = path.join(dir, "bin", "node");
  if (existsSync(binary)) return binary;
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, ".fetch-"));
  const spec = `${nodePackage}@${version}`;
  try {
    let tarball: string;
    try {
      const packed = JSON.parse(
        await sh("npm", ["pack", spec, "--json", "--pack-destination", work], work),
      ) as { filename: string }[];
      const filename = packed[0]?.filename;
      if (filename === undefined) throw new Error("npm pack reported no file");
      tarball = path.join(work, filename);
    } catch (e) {
      throw new Error(
        `Could not fetch Node.js ${version} from the npm registry as ${spec} (the SDK's pack test runs on this Node line and cannot be skipped): ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    const unpacked = path.join(work, "unpacked");
    await mkdir(unpacked);
    await sh(
      "tar",
      ["-xzf", tarball, "-C", unpacked, "--strip-components=1", "package/bin/node"],
      work,
    );
    const reported = (await sh(path.join(unpacked, "bin", "node"), ["--version"], work)).trim();
    if (reported !== `v${version}`) {
      throw new Error(`${spec} contains a node that reports ${reported}, not v${version}`);
    }
    // Renamed into place only when complete, so an interrupted fetch is never mistaken for one.
    await rename(unpacked, dir).catch(async (e: unknown) => {
      if (!existsSync(binary)) throw e;
    });
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
