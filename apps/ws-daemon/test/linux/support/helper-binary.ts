import { execFileSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** Builds native/wsd-nshelper once (cheap, idempotent) and returns its path. */
export function ensureHelperBuilt(): string {
  const dir = fileURLToPath(new URL("../../../native/", import.meta.url));
  const bin = `${dir}build/wsd-nshelper`;
  const stale =
    !existsSync(bin) || statSync(bin).mtimeMs < statSync(`${dir}wsd-nshelper.c`).mtimeMs;
  if (stale) execFileSync("bash", [`${dir}build.sh`], { stdio: "ignore" });
  return bin;
}
