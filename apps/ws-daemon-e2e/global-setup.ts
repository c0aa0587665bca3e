import { createTestPki } from "@ws-daemon/test-support";
import type { TestProject } from "vitest/node";
import { removeStaleWorkingAreas } from "./src/support/daemon-container.js";
import { buildBaseImage, buildDaemonImage, ensureDocker } from "./src/support/image-build.js";
import { describeRemoved, removeTestResources } from "./src/support/leftovers.js";
import "./src/support/provided-context.js";

/** Fixed, so BuildKit's layer cache makes rebuilds cheap; removed again in teardown. */
const DAEMON_IMAGE = "ws-daemon:e2e";

function log(message: string): void {
  process.stderr.write(`[e2e setup] ${message}\n`);
}

async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await step();
  log(`${what}: ${((performance.now() - started) / 1000).toFixed(1)}s`);
  return result;
}

/**
 * Runs once before any test file: a Docker engine, no leftovers of crashed runs, the cached
 * base image and a fresh daemon image. Returns the teardown that removes everything the run
 * created except the cached base image.
 */
export async function setup(project: TestProject): Promise<() => Promise<void>> {
  // No registry: the reaper image and testcontainers' alpine helper cannot be pulled.
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  process.env.TESTCONTAINERS_HOST_OVERRIDE ??= "localhost";

  await timed("docker engine", ensureDocker);
  const removed = await timed("remove leftovers", removeTestResources);
  log(`removed from earlier runs: ${describeRemoved(removed)}`);
  const staleAreas = await removeStaleWorkingAreas();
  if (staleAreas.length > 0) log(`removed ${staleAreas.length} stale working areas`);

  const baseImage = await timed(
    "base image",
    async () => process.env.BASE_IMAGE ?? buildBaseImage(),
  );
  const image = await timed("daemon image", () =>
    buildDaemonImage({
      tag: DAEMON_IMAGE,
      baseImage,
      allowPlaceholderBundle: process.env.WS_DAEMON_E2E_PLACEHOLDER === "1",
    }),
  );
  if (image.placeholderBundle) {
    log("WARNING: apps/ws-daemon/dist is missing; the image carries a placeholder bundle");
  }

  // Daemons in containers listen beyond loopback, which requires mutual TLS.
  const pki = await createTestPki();
  project.provide("pki", {
    dir: pki.dir,
    ca: pki.ca,
    otherCa: pki.otherCa,
    client: pki.client,
    strangerClient: pki.strangerClient,
  });
  project.provide("daemonImage", image.tag);
  project.provide("baseImage", baseImage);
  project.provide("placeholderBundle", image.placeholderBundle);

  return async () => {
    const cleaned = await removeTestResources();
    log(`teardown removed: ${describeRemoved(cleaned)}`);
    await removeStaleWorkingAreas();
    await pki.cleanup();
  };
}
