import { access, constants } from "node:fs/promises";
import type { ProcessRunner } from "../platform/index.js";

export interface MissingTool {
  tool: string;
  neededFor: string;
  install: string;
}

const REQUIRED: readonly MissingTool[] = [
  {
    tool: "git",
    neededFor: "git initializers and the git status at dispose",
    install: "apt-get install git",
  },
  { tool: "zstd", neededFor: "snapshots, backups and restores", install: "apt-get install zstd" },
];

/** The tools the content API cannot work without that do not run here. */
export async function missingPrerequisites(runner: ProcessRunner): Promise<MissingTool[]> {
  const missing: MissingTool[] = [];
  for (const t of REQUIRED) {
    const ok = await runner.run(t.tool, ["--version"]).then(
      (r) => r.exitCode === 0,
      () => false,
    );
    if (!ok) missing.push(t);
  }
  return missing;
}

/** One line per missing tool, for the start-up failure. */
export const describeMissing = (missing: readonly MissingTool[]): string =>
  missing
    .map((m) => `${m.tool} is missing (needed for ${m.neededFor}; e.g. ${m.install})`)
    .join("; ");

/** Whether the namespace helper can be executed; the in-workspace API needs it. */
export const helperIsExecutable = (path: string): Promise<boolean> =>
  access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
