import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/** One relative import of a source file: `from` and `to` relative to the source root, as .ts. */
export interface ImportEdge {
  from: string;
  to: string;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)"(\.{1,2}\/[^"]+)"/g;

const sourceFiles = (dir: string): string[] =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") && !name.endsWith(".d.ts") ? [path] : [];
  });

/** Every relative import below `root`, read from the text (comments aside, good enough for ours). */
export function readImportGraph(root: string): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const file of sourceFiles(root)) {
    const text = readFileSync(file, "utf8").replace(/^\s*(\/\/|\*).*$/gm, "");
    for (const m of text.matchAll(IMPORT)) {
      const target = resolve(dirname(file), m[1] as string).replace(/\.js$/, ".ts");
      const to = relative(root, target).split(sep).join("/");
      // data from beside the sources (the package.json version) is no layer
      if (to.startsWith("../") && to.endsWith(".json")) continue;
      edges.push({ from: relative(root, file).split(sep).join("/"), to });
    }
  }
  return edges;
}
