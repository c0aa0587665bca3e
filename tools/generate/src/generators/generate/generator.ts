import type { GeneratorCallback, Tree } from "@nx/devkit";
import { regenerateWorkspace } from "../../regenerate-workspace";

export interface GenerateGeneratorSchema {
  /** Print the generated file list. */
  verbose?: boolean;
  /** Do not rebuild libs/api-ts/dist afterwards. */
  skipBuild?: boolean;
}

/**
 * `npx nx g @ws-daemon/generate:generate`: regenerates the SDK, the mocks and the license
 * headers from proto/, then rebuilds the SDK's dist/ for the workspace packages that import it.
 * buf writes the files itself, so the work runs in the callback Nx calls after flushing its
 * virtual tree (there is nothing to put into the tree).
 */
export default async function generateGenerator(
  tree: Tree,
  options: GenerateGeneratorSchema,
): Promise<GeneratorCallback> {
  const root = tree.root;
  return async () => {
    const result = await regenerateWorkspace({
      root,
      skipBuild: options.skipBuild,
      log: (line) => console.log(line),
    });
    if (options.verbose) for (const f of result.generatedFiles) console.log(`  ${f}`);
  };
}
