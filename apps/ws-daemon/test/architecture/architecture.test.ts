import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { readImportGraph } from "./import-graph.js";
import { layerViolations } from "./layers.js";

const SRC = fileURLToPath(new URL("../../src", import.meta.url));

describe("architecture", () => {
  it("imports point down the layers, into other folders only through index.ts, without cycles", () => {
    expect(layerViolations(readImportGraph(SRC))).toEqual([]);
  });

  it("the rules catch an upward import, a side entrance and a cycle", () => {
    expect(
      layerViolations([
        { from: "platform/errors.ts", to: "content/index.ts" },
        { from: "rpc/x.ts", to: "content/workspace-record.ts" },
        { from: "archive/a.ts", to: "storage/index.ts" },
        { from: "storage/b.ts", to: "archive/index.ts" },
        { from: "daemon.ts", to: "rpc/index.ts" },
        { from: "runtime/cri-runtime.ts", to: "gen/cri/runtime/v1/api_pb.ts" },
        { from: "gen/cri/x_pb.ts", to: "runtime/index.ts" },
      ]),
    ).toEqual([
      "platform/errors.ts -> content/index.ts: platform (layer 0) imports content (layer 1) above it",
      "rpc/x.ts -> content/workspace-record.ts: enters content other than through content/index.ts",
      "gen/cri/x_pb.ts -> runtime/index.ts: gen (layer 0) imports runtime (layer 1) above it",
      "dependency cycle: archive -> storage -> archive",
    ]);
  });
});
