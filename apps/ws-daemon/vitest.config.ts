import { defineConfig } from "vitest/config";

/**
 * Two projects: `unit` (`*.test.ts`: files, real git and child processes, nothing privileged) for
 * quick feedback, and `int` (`*.int.test.ts`: root, the kernel's namespaces/mounts/cgroups, moto
 * S3 or Docker). `npm run test:unit` / `npm run test:int` run one; `vitest run` runs both.
 */
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: "forks" as const };

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: "unit",
          include: ["test/**/*.test.ts", "src/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          ...shared,
          name: "int",
          include: ["test/**/*.int.test.ts", "src/**/*.int.test.ts"],
        },
      },
    ],
  },
});
