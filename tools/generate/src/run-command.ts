import { spawn } from "node:child_process";
import * as path from "node:path";

/**
 * Runs a command with the repository's `node_modules/.bin` first on PATH, its output passed
 * through; rejects with the command line when it exits non-zero.
 */
export function runCommand(
  command: string,
  args: string[],
  cwd: string,
  root: string,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const bin = path.join(root, "node_modules", ".bin");
    const child = spawn(command, args, {
      cwd,
      stdio: ["ignore", "inherit", "inherit"],
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH ?? ""}` },
    });
    child.on("error", reject);
    child.on("close", (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${command} ${args.join(" ")} exited with ${code} in ${cwd}`)),
    );
  });
}
