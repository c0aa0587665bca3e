import { defineConfig } from "tsup";

/**
 * The daemon ships as self-contained bundles (dependencies included), so the image needs only
 * Node and the system tools, no node_modules.
 */
export default defineConfig({
  entry: {
    main: "src/main.ts",
    healthcheck: "src/healthcheck.ts",
    // the operator CLI (@ws-daemon/cli), `wsdctl` in the image
    wsdctl: "src/cli/wsdctl.ts",
    // loaded by src/archive/worker-pool.ts as worker threads, next to the bundle's chunks
    "tar-worker": "src/archive/tar-worker.ts",
    "extract-worker": "src/archive/extract-worker.ts",
    "chunk-worker": "src/archive/chunk-worker.ts",
  },
  format: ["esm"],
  platform: "node",
  target: "node20",
  noExternal: [/.*/],
  splitting: true,
  sourcemap: true,
  clean: true,
  // Bundled CommonJS dependencies call require(); give the ESM bundle one.
  banner: {
    js: "import { createRequire as __wsdCreateRequire } from 'node:module'; const require = __wsdCreateRequire(import.meta.url);",
  },
});
