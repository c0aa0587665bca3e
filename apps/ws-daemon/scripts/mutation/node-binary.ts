import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rename, rm } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/**
 * The environment for child tools: npm settings that `npm run -w ...` exports (workspace,
 * prefix, scripts) must not leak into an `npm install` meant for another directory.
 */
export function cleanEnv(extraPath?: string): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"]);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())),
  );
  if (extraPath) env["PATH"] = `${extraPath}${path.delimiter}${env["PATH"] ?? ""}`;
  return env;
}

/** Runs a command with inherited output; rejects naming the command when it fails. */
export function run(
  cmd: string,
  args: readonly string[],
  options: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { ...options, stdio: "inherit" });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(" ")} ended with ${code ?? signal}`));
    });
  });
}

/**
 * A `node` binary of the given version, fetched once from the npm registry (the official binaries
 * are published as `node-<platform>-<arch>`) and kept under `node_modules/.cache/node-lines`,
 * the same place and layout libs/api-mocks' pack test uses, so both share it.
 */
export async function nodeBinary(version: string, repoRoot: string): Promise<string> {
  if (process.versions.node === version) return process.execPath;
  const cache = path.join(repoRoot, "node_modules", ".cache", "node-lines");
  const dir = path.join(cache, `v${version}-${process.platform}-${process.arch}`);
  const binary = path.join(dir, "bin", "node");
  if (existsSync(binary)) return binary;
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, ".fetch-"));
  const spec = `node-${process.platform}-${process.arch}@${version}`;
  try {
    const { stdout } = await execFileAsync(
      "npm",
      ["pack", spec, "--json", "--pack-destination", work],
      { cwd: work, env: cleanEnv(), maxBuffer: 64 << 20 },
    );
    const filename = (JSON.parse(stdout) as { filename: string }[])[0]?.filename;
    if (filename === undefined) throw new Error(`npm pack ${spec} reported no file`);
    const unpacked = path.join(work, "unpacked");
    await mkdir(unpacked);
    await execFileAsync(
      "tar",
      [
        "-xzf",
        path.join(work, filename),
        "-C",
        unpacked,
        "--strip-components=1",
        "package/bin/node",
      ],
      { cwd: work },
    );
    const reported = (await execFileAsync(path.join(unpacked, "bin", "node"), ["--version"]))
      .stdout;
    if (reported.trim() !== `v${version}`) {
      throw new Error(`${spec} contains a node that reports ${reported.trim()}, not v${version}`);
    }
    // Renamed into place only when complete, so an interrupted fetch is never mistaken for one.
    await rename(unpacked, dir).catch((err: unknown) => {
      if (!existsSync(binary)) throw err;
    });
    return binary;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
