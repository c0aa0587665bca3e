/**
 * `tsx tools/generate/src/cli.ts [--root DIR]`: the command behind the cached Nx target
 * `generate`. The Nx generator `@ws-daemon/generate:generate` runs the same pipeline.
 */
import * as path from "node:path";
import { generate } from "./pipeline";

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const rootIndex = args.indexOf("--root");
  const root = rootIndex >= 0 ? args[rootIndex + 1] : path.join(__dirname, "..", "..", "..");
  if (root === undefined) throw new Error("--root needs a directory");
  await generate({ root, log: (line) => console.log(line) });
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
