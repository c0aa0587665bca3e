import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

/**
 * Builds native/wsd-chunker if it is missing or older than its source and returns its path, or
 * undefined (with the build's [native] line as the reason) where it cannot be built.
 */
export function nativeChunkerOrReason(): { path: string } | { reason: string } {
  const dir = fileURLToPath(new URL("../../native/", import.meta.url));
  const bin = `${dir}build/wsd-chunker`;
  const sources = readdirSync(dir).filter((f) => f.startsWith("wsd-chunker"));
  const stale =
    !existsSync(bin) || sources.some((s) => statSync(bin).mtimeMs < statSync(`${dir}${s}`).mtimeMs);
  let output = "";
  if (stale) output = execFileSync("bash", [`${dir}build.sh`], { encoding: "utf8" });
  if (existsSync(bin)) return { path: bin };
  return {
    reason:
      output
        .split("\n")
        .find((l) => l.includes("wsd-chunker"))
        ?.trim() ?? "wsd-chunker was not built",
  };
}
