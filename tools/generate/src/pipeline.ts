import { readdir, readFile, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { asLineComments, readHeaderLines, withHeader } from "./license-header";
import { runCommand } from "./run-command";

/** One `buf generate` over one folder of protos, with the folders its template writes to. */
export interface GenerationRun {
  /** Folder holding the .proto files (they get the license header too). */
  protoDir: string;
  /** The buf template; it names `protoDir` as input and `outDirs` as outputs. */
  template: string;
  outDirs: readonly string[];
}

/**
 * Every generation, relative to the repository root. The public API (proto/ → the SDK and the
 * mocks) and the daemon's private CRI subset (apps/ws-daemon/proto-cri → the daemon's own
 * src/gen/cri) run apart, so nothing of the CRI reaches the SDK, the mocks or the wire baseline.
 */
export const generationRuns: readonly GenerationRun[] = [
  {
    protoDir: "proto",
    template: "buf.gen.yaml",
    outDirs: ["libs/api-ts/src/gen", "libs/api-mocks/src/gen"],
  },
  {
    protoDir: "apps/ws-daemon/proto-cri",
    template: "buf.gen.cri.yaml",
    outDirs: ["apps/ws-daemon/src/gen/cri"],
  },
];

/** Where generated code goes; the buf templates name the same folders. */
export const generatedDirs: readonly string[] = generationRuns.flatMap((r) => r.outDirs);

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
 * The whole contract-to-code path, for each generation run: license headers on the protos,
 * `buf generate` (protoc-gen-es, and our protoc-gen-wsd for the public API), and the header on
 * every generated file. Deterministic: a second run over unchanged input writes the same bytes.
 */
export async function generate(options: GenerateOptions): Promise<GenerateResult> {
  const log = options.log ?? (() => {});
  const root = path.resolve(options.root);
  const header = asLineComments(await readHeaderLines(root));

  const changedProtos: string[] = [];
  const generatedFiles: string[] = [];
  for (const run of generationRuns) {
    const protos = await listFiles(path.join(root, run.protoDir), ".proto");
    const changed = await applyHeader(protos, header);
    for (const p of changed) log(`license header updated: ${path.relative(root, p)}`);
    changedProtos.push(...changed);

    log(`buf generate --template ${run.template}`);
    await runCommand("buf", ["generate", "--template", run.template], root, root);

    for (const dir of run.outDirs) {
      const files = await listFiles(path.join(root, dir), ".ts");
      await applyHeader(files, header);
      generatedFiles.push(...files.map((f) => path.relative(root, f)));
    }
  }
  log(`generated ${generatedFiles.length} files in ${generatedDirs.join(", ")}`);
  return { changedProtos: changedProtos.map((p) => path.relative(root, p)), generatedFiles };
}
