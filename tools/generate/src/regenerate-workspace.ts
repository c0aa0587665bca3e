import { buildSdk } from "./build-sdk";
import { type GenerateResult, generate } from "./pipeline";

export interface RegenerateOptions {
  root: string;
  log?: ((line: string) => void) | undefined;
  /** Leave libs/api-ts/dist as it is (only the generated sources change). */
  skipBuild?: boolean | undefined;
}

/**
 * What `npx nx g @ws-daemon/generate:generate` does: the generation pipeline, then a build of
 * the SDK so every consumer in the workspace sees the new code.
 */
export async function regenerateWorkspace(options: RegenerateOptions): Promise<GenerateResult> {
  const result = await generate({ root: options.root, log: options.log });
  if (!options.skipBuild) await buildSdk({ root: options.root, log: options.log });
  return result;
}
