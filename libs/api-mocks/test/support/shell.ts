import { execFile } from "node:child_process";
import { promisify } from "node:util";

const run = promisify(execFile);

/**
 * The environment for a child process that must behave like a user's shell: npm settings that
 * an `npm test` in the monorepo exports (workspace, prefix, scripts) do not leak into it.
 */
export function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"]);
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())),
  );
  // Output is compared as text: no colors, even when the test runner (e.g. Nx) forces them.
  delete env.FORCE_COLOR;
  env.NO_COLOR = "1";
  return env;
}

/** Runs a command and returns its stdout; a failure carries the command line and all output. */
export async function sh(cmd: string, args: readonly string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, [...args], { cwd, env: cleanEnv(), maxBuffer: 64 << 20 });
    return stdout;
  } catch (e) {
    const { stdout, stderr, message } = e as { stdout?: string; stderr?: string; message?: string };
    throw new Error(
      `${cmd} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}\n${stderr ?? message ?? ""}`,
    );
  }
}
