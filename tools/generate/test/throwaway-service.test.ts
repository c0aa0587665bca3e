/**
 * Editing a .proto and running the one command updates SDK and mocks with no other step:
 * in a temporary copy of the repository, a new service gets a client, a mock, index entries
 * and license headers, and a real call through them works.
 */
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../src/pipeline";
import { copyRepository, repo } from "./support/repo-copy";

let copy: string;

const throwawayProto = `syntax = "proto3";

package throwaway.v1;

service ThrowawayService {
  rpc Ping(PingRequest) returns (PingResponse);
}

message PingRequest {
  string text = 1;
}

message PingResponse {
  string echo = 1;
}
`;

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name))
    .sort();
}

async function snapshot(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const f of await filesUnder(dir)) out.set(path.relative(dir, f), await readFile(f, "utf8"));
  return out;
}

beforeAll(async () => {
  copy = await copyRepository("wsd-generate-");
  await mkdir(path.join(copy, "proto", "throwaway", "v1"), { recursive: true });
  await writeFile(path.join(copy, "proto", "throwaway", "v1", "throwaway.proto"), throwawayProto);
  await generate({ root: copy });
});

afterAll(async () => {
  if (copy && !process.env.KEEP_TMP) await rm(copy, { recursive: true, force: true });
});

describe("generate after adding a service", () => {
  it("writes a client and a mock for it and lists them in the indexes", async () => {
    const client = await readFile(
      path.join(copy, "libs/api-ts/src/gen/throwaway/v1/throwaway_client.ts"),
      "utf8",
    );
    expect(client).toContain("export function createThrowawayServiceClient(transport: Transport)");
    const mock = await readFile(
      path.join(copy, "libs/api-mocks/src/gen/throwaway/v1/throwaway_mock.ts"),
      "utf8",
    );
    expect(mock).toContain("export interface ThrowawayServiceMock");
    expect(mock).toContain(
      "readonly ping: UnaryMock<typeof PingRequestSchema, typeof PingResponseSchema>",
    );
    const apiIndex = await readFile(path.join(copy, "libs/api-ts/src/gen/index.ts"), "utf8");
    expect(apiIndex).toContain('export * from "./throwaway/v1/throwaway_pb.js";');
    expect(apiIndex).toContain('export * from "./throwaway/v1/throwaway_client.js";');
    const mocksIndex = await readFile(path.join(copy, "libs/api-mocks/src/gen/index.ts"), "utf8");
    expect(mocksIndex).toContain('export * from "./throwaway/v1/throwaway_mock.js";');
    const catalogue = await readFile(
      path.join(copy, "libs/api-mocks/src/gen/catalogue.ts"),
      "utf8",
    );
    expect(catalogue).toContain('"throwaway.v1.ThrowawayService": createThrowawayServiceMock');
  });

  it("puts the license header on every generated file and on the new proto", async () => {
    const header = (
      await readFile(path.join(copy, "tools/generate/license-header.txt"), "utf8")
    ).split("\n")[0];
    const files = [
      ...(await filesUnder(path.join(copy, "libs/api-ts/src/gen"))),
      ...(await filesUnder(path.join(copy, "libs/api-mocks/src/gen"))),
      path.join(copy, "proto/throwaway/v1/throwaway.proto"),
    ];
    expect(files.length).toBeGreaterThan(15);
    for (const f of files)
      expect((await readFile(f, "utf8")).startsWith(`// ${header}\n`), f).toBe(true);
  });

  it("a client and a mock of the new service talk to each other", async () => {
    await writeFile(
      path.join(copy, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ["node"],
          lib: ["ES2023", "DOM"],
          paths: { "@ws-daemon/api": ["./libs/api-ts/src/index.ts"] },
        },
        files: ["call.mts"],
      }),
    );
    await writeFile(
      path.join(copy, "call.mts"),
      `import { createThrowawayServiceClient } from "@ws-daemon/api";
import { createThrowawayServiceMock, createMockTransport } from "./libs/api-mocks/src/index.js";
const mock = createThrowawayServiceMock();
mock.ping.implement((req) => ({ echo: req.text.toUpperCase() }));
const client = createThrowawayServiceClient(createMockTransport([mock]));
const res = await client.ping({ text: "hello" });
process.stdout.write(res.echo + " " + String(mock.ping.calls.length) + "\\n");
`,
    );
    const run = promisify(execFile);
    // Type-checks: the generated names are real, typed exports.
    await run(path.join(repo, "node_modules/.bin/tsc"), ["-p", "tsconfig.json"], { cwd: copy });
    const { stdout } = await run(path.join(repo, "node_modules/.bin/tsx"), ["call.mts"], {
      cwd: copy,
    });
    expect(stdout.trim()).toBe("HELLO 1");
  });

  it("is deterministic: a second run writes the same bytes", async () => {
    const before = new Map([
      ...(await snapshot(path.join(copy, "libs/api-ts/src/gen"))),
      ...[...(await snapshot(path.join(copy, "libs/api-mocks/src/gen")))].map(
        ([k, v]) => [`mocks/${k}`, v] as const,
      ),
    ]);
    await generate({ root: copy });
    const after = new Map([
      ...(await snapshot(path.join(copy, "libs/api-ts/src/gen"))),
      ...[...(await snapshot(path.join(copy, "libs/api-mocks/src/gen")))].map(
        ([k, v]) => [`mocks/${k}`, v] as const,
      ),
    ]);
    expect(after).toEqual(before);
  });

  it("a changed header source updates every generated file", async () => {
    await writeFile(
      path.join(copy, "tools/generate/license-header.txt"),
      "Copyright 2027 Someone Else\n\nAll rights reserved.\n",
    );
    await generate({ root: copy });
    const index = await readFile(path.join(copy, "libs/api-ts/src/gen/index.ts"), "utf8");
    expect(
      index.startsWith("// Copyright 2027 Someone Else\n//\n// All rights reserved.\n\n"),
    ).toBe(true);
    expect(index).not.toContain("Apache");
    const proto = await readFile(path.join(copy, "proto/wsdaemon/daemon.proto"), "utf8");
    expect(proto.startsWith("// Copyright 2027 Someone Else\n")).toBe(true);
    expect(proto).not.toContain("Apache");
  });
});
