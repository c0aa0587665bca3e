import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { e2eLabels } from "./labels.js";
import { daemonAppDir, scriptsDir } from "./repo-paths.js";
import { runCommand } from "./run-command.js";

/** Our scripts' own progress lines ("[build-image] ...") and errors, not BuildKit's step log. */
const progressLine = (line: string): boolean => /^\[[a-z-]+\] |\berror\b/i.test(line);

const lastLine = (text: string): string => text.trim().split("\n").at(-1) ?? "";

/** Installs/starts dockerd when needed (see scripts/ensure-docker.sh). */
export async function ensureDocker(): Promise<void> {
  await runCommand("bash", [`${scriptsDir}/ensure-docker.sh`], { echoStderr: progressLine });
}

/** The registry-free stand-in for node:22-bookworm-slim; cached under a tag naming its inputs. */
export async function buildBaseImage(): Promise<string> {
  const { stdout } = await runCommand("bash", [`${scriptsDir}/build-base-image.sh`], {
    echoStderr: progressLine,
  });
  return lastLine(stdout);
}

export interface DaemonImage {
  tag: string;
  /** True when dist/ was missing and a stand-in bundle was used: only image-level tests apply. */
  placeholderBundle: boolean;
}

export interface BuildDaemonImageOptions {
  tag: string;
  baseImage: string;
  /** Build with a stand-in bundle when apps/ws-daemon/dist/main.js does not exist yet. */
  allowPlaceholderBundle: boolean;
}

/** Builds apps/ws-daemon/Dockerfile via scripts/build-image.sh, labelled for later cleanup. */
export async function buildDaemonImage(options: BuildDaemonImageOptions): Promise<DaemonImage> {
  const bundled = existsSync(path.join(daemonAppDir, "dist", "main.js"));
  if (!bundled && !options.allowPlaceholderBundle) {
    throw new Error(
      `${daemonAppDir}/dist/main.js is missing: bundle the daemon before the e2e suite ` +
        "(or set WS_DAEMON_E2E_PLACEHOLDER=1 to check only the image itself)",
    );
  }
  const context = bundled ? daemonAppDir : await createPlaceholderContext();
  try {
    const labels = Object.entries(e2eLabels).flatMap(([key, value]) => [
      "--label",
      `${key}=${value}`,
    ]);
    await runCommand(
      "bash",
      [`${scriptsDir}/build-image.sh`, "--tag", options.tag, "--context", context, ...labels],
      { echoStderr: progressLine, env: { ...process.env, BASE_IMAGE: options.baseImage } },
    );
  } finally {
    if (!bundled) await rm(context, { recursive: true, force: true });
  }
  return { tag: options.tag, placeholderBundle: !bundled };
}

/**
 * A temporary build context with the real native sources and a stand-in dist/ that refuses
 * to pretend it is the daemon. Lives outside the repository so nothing stray is committed.
 */
async function createPlaceholderContext(): Promise<string> {
  const context = await mkdtemp(path.join(tmpdir(), "ws-daemon-e2e-context-"));
  await cp(path.join(daemonAppDir, ".dockerignore"), path.join(context, ".dockerignore"));
  const nativeDir = path.join(daemonAppDir, "native");
  await mkdir(path.join(context, "native"));
  if (existsSync(nativeDir)) {
    await cp(nativeDir, path.join(context, "native"), {
      recursive: true,
      filter: (source) => path.relative(nativeDir, source).split(path.sep)[0] !== "build",
    });
  }
  await mkdir(path.join(context, "dist"));
  const refuse =
    'console.error("placeholder bundle: the daemon was not built"); process.exit(1);\n';
  await writeFile(path.join(context, "dist", "main.js"), refuse);
  await writeFile(path.join(context, "dist", "healthcheck.js"), refuse);
  return context;
}
