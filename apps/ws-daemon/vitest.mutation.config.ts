import { defineConfig } from "vitest/config";

/**
 * Used by `npm run test:mutation` only (scripts/mutation/run.ts): runs the test files named in
 * WSD_MUTATION_TESTS (a JSON array of globs), the tests that target the module being mutated.
 */
const tests = JSON.parse(process.env["WSD_MUTATION_TESTS"] ?? "[]") as string[];
if (tests.length === 0) throw new Error("WSD_MUTATION_TESTS names no test files");

export default defineConfig({
  test: {
    include: tests,
    setupFiles: ["scripts/mutation/worker-mutant-env.ts"],
    exclude: ["**/*.int.test.ts", "**/node_modules/**"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
