import { readdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { asLineComments, readHeaderLines, withHeader } from "./license-header";
import { runCommand } from "./run-command";

/** Where generated code goes; buf.gen.yaml names the same folders. */
export const generatedDirs = ["libs/api-ts/src/gen", "libs/api-mocks/src/gen"] as const;

export interface GenerateOptions {
  /** The repository root (holds buf.yaml, buf.gen.yaml and proto/). */
  root: string;
  log?: ((line: string) => void) | undefined;
}

export interface GenerateResult {
  /** Files whose content the run changed (protos whose header was updated, generated files). */
  changedProtos: string[];
  generatedFiles: string[];
}

async function listFiles(dir: string, suffix: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(suffix))
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

async function applyHeader(files: string[], header: string): Promise<string[]> {
  const changed: string[] = [];
  for (const file of files) {
    const text = await readFile(file, "utf8");
    const next = withHeader(text, header);
    if (next !== text) {
      await writeFile(file, next);
      changed.push(file);
    }
  }
  return changed;
}

/**
 * The whole contract-to-code path: license headers on the protos, `buf generate` (protoc-gen-es
 * and our protoc-gen-wsd), and the header on every generated file. Deterministic: a second
 * run over unchanged input writes the same bytes.
 */
export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const log = options.log ?? (() => {});
  const root = path.resolve(options.root);
  const header = asLineComments(await readHeaderLines(root));

  const protos = await listFiles(path.join(root, "proto"), ".proto");
  const changedProtos = await applyHeader(protos, header);
  for (const p of changedProtos) log(`license header updated: ${path.relative(root, p)}`);

  log("buf generate");
  await runCommand("buf", ["generate"], root, root);

  const generatedFiles: string[] = [];
  for (const dir of generatedDirs) {
    const files = await listFiles(path.join(root, dir), ".ts");
    await applyHeader(files, header);
    generatedFiles.push(...files.map((f) => path.relative(root, f)));
  }
  log(`generated ${generatedFiles.length} files in ${generatedDirs.join(", ")}`);
  return { changedProtos: changedProtos.map((p) => path.relative(root, p)), generatedFiles };
}
