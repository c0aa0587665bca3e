import { defineConfig } from "tsup";

/**
 * ES module only (a CLI, not a library for CommonJS callers): the `wsdctl` bin and `run()` for
 * programs that embed it (the daemon image bundles it). Dependencies stay external; npm installs
 * them with the package.
 */
export default defineConfig({
  entry: { index: "src/index.ts", wsdctl: "src/wsdctl.ts" },
  format: ["esm"],
  platform: "node",
  target: "node20",
  dts: { entry: { index: "src/index.ts" } },
  sourcemap: true,
  clean: true,
});
