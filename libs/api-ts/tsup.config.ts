import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts" },
  format: ["esm", "cjs"],
  dts: true,
  sourcemap: true,
  clean: true,
  target: "es2022",
  // Runtime packages stay external so an application keeps one copy of each (and one
  // descriptor identity across @ws-daemon/api and @ws-daemon/api-mocks).
  external: [
    "@bufbuild/protobuf",
    "@connectrpc/connect",
    "@connectrpc/connect-node",
    "@ws-daemon/api",
  ],
});
