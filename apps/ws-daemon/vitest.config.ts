import { defineConfig } from "vitest/config";

/**
 * Projects: `unit` (`*.test.ts`: files, real git and child processes, nothing privileged) for
 * quick feedback, and `int` (`*.int.test.ts`: root, the kernel's namespaces/mounts/cgroups, moto
 * S3 or Docker). `npm run test:unit` / `npm run test:int` run one; `vitest run` runs all.
 * `pid-recycling` holds the tests that recycle a pid on purpose (test/linux/support/recycled-pid.ts
 * lowers the host's ns_last_pid for a moment): while it is low, any process on the host may get a
 * number that just died, so a test elsewhere that signals a stale pid could hit another test's
 * process. They run after everything else, one file at a time (groupOrder 1).
 */
const shared = { testTimeout: 60_000, hookTimeout: 60_000, pool: "forks" as const };
const pidRecycling = [
  "test/linux/pinned-pid.int.test.ts",
  "test/linux/pinned-id-mapping.int.test.ts",
  "test/linux/pinned-workspace-calls.int.test.ts",
];

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          ...shared,
          name: "unit",
          sequence: { groupOrder: 0 },
          include: ["test/**/*.test.ts", "src/**/*.test.ts"],
          exclude: ["**/*.int.test.ts", "**/node_modules/**"],
        },
      },
      {
        test: {
          ...shared,
          name: "int",
          sequence: { groupOrder: 0 },
          include: ["test/**/*.int.test.ts", "src/**/*.int.test.ts"],
          exclude: [...pidRecycling, "**/node_modules/**"],
        },
      },
      {
        test: {
          ...shared,
          name: "pid-recycling",
          include: pidRecycling,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
