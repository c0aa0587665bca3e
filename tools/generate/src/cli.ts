/**
 * `tsx tools/generate/src/cli.ts [--root DIR]`: the command behind the cached Nx target
 * `generate`. The Nx generator `@ws-daemon/generate:generate` runs the same pipeline.
 */
import * as path from "node:path";
import { parseCliArgs, usage } from "./cli-args";
import { generate } from "./pipeline";

async function main(): Promise<number> {
  const args = parseCliArgs(process.argv.slice(2));
  if (args.kind === "help") {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (args.kind === "error") {
    process.stderr.write(`generate: ${args.message}\n\n${usage}\n`);
    return 2;
  }
  const root = args.root ?? path.join(__dirname, "..", "..", "..");
  await generate({ root, log: (line) => console.log(line) });
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  },
);
