import * as path from "node:path";
import { runCommand } from "./run-command";

/** The package every other workspace package imports through its built `dist/`. */
export const sdkDir = path.join("libs", "api-ts");

/**
 * Rebuilds `libs/api-ts/dist` (tsup, ESM + CJS + declarations), so workspace packages that
 * import `@ws-daemon/api` the way users do (the daemon, the e2e tests) see regenerated messages
 * at once. `libs/api-mocks` does not need it: it resolves the SDK's source in development.
 */
export async function buildSdk(options: {
  root: string;
  log?: ((line: string) => void) | undefined;
}): Promise<void> {
  const root = path.resolve(options.root);
  options.log?.(`tsup (${sdkDir})`);
  await runCommand("tsup", [], path.join(root, sdkDir), root);
}
