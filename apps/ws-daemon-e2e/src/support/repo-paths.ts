import { fileURLToPath } from "node:url";

/** The monorepo root, resolved from this file so the suite works from any cwd (Nx, IDE, CI). */
export const repoRoot = fileURLToPath(new URL("../../../../", import.meta.url));

export const scriptsDir = `${repoRoot}scripts`;

export const daemonAppDir = `${repoRoot}apps/ws-daemon`;
