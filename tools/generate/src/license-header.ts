import { readFile } from "node:fs/promises";
import * as path from "node:path";

/** The single source of the license header, relative to the repository root. */
export const headerSourcePath = path.join("tools", "generate", "license-header.txt");

export async function readHeaderLines(root: string): Promise<string[]> {
  const text = await readFile(path.join(root, headerSourcePath), "utf8");
  return text.replace(/\s+$/, "").split("\n");
}

/** The header as `//` comments, the form used in .proto, .ts and .js files. */
export function asLineComments(lines: readonly string[]): string {
  return lines.map((l) => (l.trim() === "" ? "//" : `// ${l}`)).join("\n");
}

/**
 * Puts the header at the top of a file's text. A leading block of `//` comment lines that
 * mentions a copyright or license is replaced, so a changed header source updates every file.
 * Returns the text unchanged when the header is already there.
 */
export function withHeader(text: string, header: string): string {
  if (text.startsWith(`${header}\n`)) return text;
  const lines = text.split("\n");
  let end = 0;
  while (end < lines.length && lines[end]?.startsWith("//")) end++;
  const leading = lines.slice(0, end).join("\n");
  const rest = /copyright|license/i.test(leading)
    ? lines.slice(end).join("\n").replace(/^\n+/, "")
    : text;
  return `${header}\n\n${rest}`;
}
