import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    globalSetup: ["./global-setup.ts"],
    // The workers use testcontainers too; both settings keep it from pulling helper images.
    env: { TESTCONTAINERS_RYUK_DISABLED: "true", TESTCONTAINERS_HOST_OVERRIDE: "localhost" },
    pool: "forks",
    // Files share one Docker engine, the image and fixed node resources (sockets, cgroups).
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 120_000,
  },
});
