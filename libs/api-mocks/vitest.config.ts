import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    // The SDK's source, as in tsconfig.json's "paths": tests never run against a stale dist/.
    alias: [
      {
        find: /^@ws-daemon\/api$/,
        replacement: fileURLToPath(new URL("../api-ts/src/index.ts", import.meta.url)),
      },
    ],
  },
  test: { include: ["test/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 },
});
