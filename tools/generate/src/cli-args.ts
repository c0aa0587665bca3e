export const usage = `Usage: tsx tools/generate/src/cli.ts [--root DIR]

Regenerates libs/api-ts/src/gen and libs/api-mocks/src/gen from proto/ with buf
(protoc-gen-es and protoc-gen-wsd), and the daemon's private CRI subset
apps/ws-daemon/src/gen/cri from apps/ws-daemon/proto-cri (protoc-gen-es), and puts the
license header from tools/generate/license-header.txt on every proto and generated file.
This is the cached Nx target \`npx nx run @ws-daemon/api:generate\`; after editing a
.proto, \`npx nx g @ws-daemon/generate:generate\` also rebuilds libs/api-ts/dist.

Options:
  --root DIR   the repository root (default: the one holding this script)
  -h, --help   print this text`;

export type CliArgs =
  | { kind: "run"; root: string | undefined }
  | { kind: "help" }
  | { kind: "error"; message: string };

export function parseCliArgs(argv: readonly string[]): CliArgs {
  let root: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--help" || arg === "-h") return { kind: "help" };
    if (arg === "--root") {
      const value = argv[i + 1];
      if (value === undefined || value.startsWith("-")) {
        return { kind: "error", message: "--root needs a directory" };
      }
      root = value;
      i++;
    } else if (arg?.startsWith("--root=")) {
      root = arg.slice("--root=".length);
    } else {
      return { kind: "error", message: `unknown argument "${arg}"` };
    }
  }
  return { kind: "run", root };
}
