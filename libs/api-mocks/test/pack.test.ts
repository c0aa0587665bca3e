import { existsSync, statSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanTree } from "./support/clean-tree.js";
import { nodeBinary, nodeLines } from "./support/node-lines.js";
import { codeBlocks, promisedOutput } from "./support/readme-blocks.js";
import { sh } from "./support/shell.js";

/**
 * The published shape of both packages, the way a new user gets them: `npm run release:pack`
 * in a clean copy of the sources (no earlier build, no dist/), `npm install` of the two
 * tarballs alone into a project outside the monorepo (npm brings the peers), and then, on
 * Node.js 20, 22, 24 and 26: both packages from ESM and from CJS against a real mock server, and
 * the first example of the root README as written. One install serves all of it, since
 * @ws-daemon/api-mocks needs @ws-daemon/api anyway.
 */
const libs = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const repoRoot = resolve(libs, "..");

/** The same scenario in both module systems; only the import lines differ. */
const scenario = `
const { Code, ConnectError } = connect;
const content = mocks.createWorkspaceContentServiceMock();
content.isWorkspaceExists.returns({ exists: true });
content.waitForInit.fails(Code.NotFound, "workspace ws-2 is unknown");
const socketPath = process.argv[2];
const servers = {
  tcp: await mocks.startMockServer([content]),
  unix: await mocks.startMockServer([content], { listen: { socketPath } }),
};
const out = { sameDescriptor: content.$service === api.WorkspaceContentService };
try {
  for (const [name, server] of Object.entries(servers)) {
    const address = name === "unix" ? server.target : server.baseUrl;
    const { content: client } = api.createDaemonClients(api.createDaemonTransport({ address }));
    const response = await client.isWorkspaceExists({ id: "ws-" + name });
    out[name] = response.exists;
    out[name + "Json"] = api.toJsonText(response, { indent: 0 });
    try {
      await client.waitForInit({ id: "ws-2" });
      out[name + "Error"] = "no error";
    } catch (e) {
      const s = api.statusOf(e);
      out[name + "Error"] = s.codeName + ": " + s.message + " (ConnectError: " + (e instanceof ConnectError) + ")";
    }
  }
  out.calls = content.isWorkspaceExists.calls.map((c) => c.request.id);
} finally {
  await Promise.all(Object.values(servers).map((s) => s.close()));
}
console.log(JSON.stringify(out));
`;

const esm = `import * as api from "@ws-daemon/api";
import * as mocks from "@ws-daemon/api-mocks";
import * as connect from "@connectrpc/connect";
const resolved = [import.meta.resolve("@ws-daemon/api"), import.meta.resolve("@ws-daemon/api-mocks")];
console.log(JSON.stringify({ resolved }));
${scenario}`;

const cjs = `const api = require("@ws-daemon/api");
const mocks = require("@ws-daemon/api-mocks");
const connect = require("@connectrpc/connect");
console.log(JSON.stringify({ resolved: [require.resolve("@ws-daemon/api"), require.resolve("@ws-daemon/api-mocks")] }));
(async () => {
${scenario}
})().catch((e) => { console.error(e); process.exit(1); });`;

/** Compiled by tsc with NodeNext: the exports map must hand out types for both conditions. */
const typesEsm = `import { createDaemonTransport, createWorkspaceContentServiceClient, type IsWorkspaceExistsResponse } from "@ws-daemon/api";
import { createWorkspaceContentServiceMock, type MockServer } from "@ws-daemon/api-mocks";
export const client = createWorkspaceContentServiceClient(createDaemonTransport({ address: "http://127.0.0.1:1" }));
export const exists: Promise<IsWorkspaceExistsResponse> = client.isWorkspaceExists({ id: "x" });
export const mock = createWorkspaceContentServiceMock().isWorkspaceExists.returns({ exists: true });
export type Server = MockServer;
`;
const typesCjs = `import api = require("@ws-daemon/api");
import mocks = require("@ws-daemon/api-mocks");
export const transport = api.createDaemonTransport({ address: "unix:///run/daemon.sock", retry: { maxAttempts: 2 } });
export const code: api.Code = api.statusOf(new api.ConnectError("x", api.Code.NotFound)).code;
export const mock = mocks.createWorkspaceContentServiceMock().isWorkspaceExists.returns({ exists: true });
`;
/** Type-checks everything and emits the README example as out/readme-example.mjs. */
const tsconfig = () => ({
  compilerOptions: {
    module: "NodeNext",
    moduleResolution: "NodeNext",
    target: "ES2022",
    strict: true,
    outDir: "out",
    // Our usage must type-check; re-checking every third-party .d.ts would only add time.
    skipLibCheck: true,
    // A consumer has @types/node; borrow the monorepo's rather than download it again.
    typeRoots: [join(repoRoot, "node_modules/@types")],
    types: ["node"],
    lib: ["ES2023", "DOM"],
  },
  files: ["types-check.mts", "types-check.cts", "readme-example.mts"],
});

interface NodeLine {
  version: string;
  binary: string;
}

let tree: string;
let project: string;
let treeHadDist = true;
let tarballs: string[] = [];
let readmeExample = "";
const lines: NodeLine[] = [];

beforeAll(async () => {
  // Fetched while the packages are packed; each failure names what could not be fetched.
  const fetched = Promise.all(
    nodeLines.map(async (version) => ({ version, binary: await nodeBinary(version, repoRoot) })),
  );
  fetched.catch(() => {});

  tree = await cleanTree(repoRoot);
  treeHadDist = ["libs/api-ts/dist", "libs/api-mocks/dist", "dist"].some((d) =>
    existsSync(join(tree, d)),
  );
  await sh("npm", ["run", "release:pack"], tree);
  const release = join(tree, "dist/release");
  tarballs = (await readdir(release))
    .filter((f) => f.endsWith(".tgz"))
    .map((f) => join(release, f));

  project = await mkdtemp(join(tmpdir(), "wsd-pack-"));
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "wsd-pack-check", version: "0.0.0", private: true }),
  );
  // What the README's "Install the SDK" says: the two tarballs, nothing else.
  await sh(
    "npm",
    ["install", "--prefer-offline", "--no-audit", "--no-fund", "--no-package-lock", ...tarballs],
    project,
  );

  const [example] = (await codeBlocks(join(repoRoot, "README.md"))).filter(
    (b) => b.section === "A small example",
  );
  if (example === undefined)
    throw new Error('README.md has no ```ts block under "A small example"');
  readmeExample = example.code;
  await Promise.all([
    writeFile(join(project, "check.mjs"), esm),
    writeFile(join(project, "check.cjs"), cjs),
    writeFile(join(project, "types-check.mts"), typesEsm),
    writeFile(join(project, "types-check.cts"), typesCjs),
    writeFile(join(project, "readme-example.mts"), readmeExample),
    writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig())),
  ]);
  const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
  await sh(process.execPath, [tsc, "-p", "tsconfig.json"], project);

  lines.push(...(await fetched));
}, 300_000);

afterAll(async () => {
  for (const dir of [project, tree]) if (dir) await rm(dir, { recursive: true, force: true });
});

async function tarballName(lib: string, base: string): Promise<string> {
  const { version } = JSON.parse(await readFile(join(libs, lib, "package.json"), "utf8")) as {
    version: string;
  };
  return `${base}-${version}.tgz`;
}

const packages = [
  ["api-ts", "ws-daemon-api"],
  ["api-mocks", "ws-daemon-api-mocks"],
] as const;

describe("npm run release:pack from a clean copy of the sources", () => {
  it("starts from sources only: the copy had no dist/ before packing", () => {
    // cleanTree copies what git tracks or would track; dist/ is ignored.
    expect(treeHadDist).toBe(false);
  });

  it("writes both tarballs, and only them, into dist/release", async () => {
    const expected = await Promise.all(packages.map(([lib, base]) => tarballName(lib, base)));
    expect(tarballs.map((t) => relative(join(tree, "dist/release"), t)).sort()).toEqual(
      expected.sort(),
    );
  });

  it.each(packages)(
    "%s's tarball holds the builds for ESM and CJS, README.md and LICENSE, and no sources",
    async (lib, base) => {
      const tarball = join(tree, "dist/release", await tarballName(lib, base));
      const files = (await sh("tar", ["-tzf", tarball], tree)).trim().split("\n");
      for (const f of [
        "package/LICENSE",
        "package/README.md",
        "package/package.json",
        "package/dist/index.js",
        "package/dist/index.cjs",
        "package/dist/index.d.ts",
        "package/dist/index.d.cts",
      ]) {
        expect(files).toContain(f);
      }
      expect(files.filter((f) => f.startsWith("package/src/"))).toEqual([]);
    },
  );
});

describe("the packed @ws-daemon/api and @ws-daemon/api-mocks", () => {
  it("install into a project outside the monorepo", () => {
    expect(relative(repoRoot, project).startsWith("..")).toBe(true);
    // Real copies from the tarballs, not links back into the monorepo.
    for (const name of ["api", "api-mocks"]) {
      const dir = join(project, "node_modules/@ws-daemon", name);
      expect(statSync(dir).isDirectory()).toBe(true);
      expect(existsSync(join(dir, "dist/index.d.ts"))).toBe(true);
      expect(existsSync(join(dir, "src"))).toBe(false);
    }
  });

  it("ship type declarations that resolve from ESM and CJS (tsc ran in the setup)", () => {
    for (const out of ["types-check.mjs", "types-check.cjs", "readme-example.mjs"]) {
      expect(existsSync(join(project, "out", out))).toBe(true);
    }
  });

  it("engines name exactly the Node.js lines this test runs on", async () => {
    const tested = lines.map((l) => l.version);
    for (const lib of ["api-ts", "api-mocks"]) {
      const { engines } = JSON.parse(await readFile(join(libs, lib, "package.json"), "utf8")) as {
        engines: { node: string };
      };
      const ranges = engines.node.split("||").map((r) => r.trim());
      const floors = ranges.map((r) => /^\^(\d+)\.(\d+)\.(\d+)$/.exec(r));
      expect(floors.every(Boolean), `${lib}: engines.node uses ^x.y.z ranges`).toBe(true);
      const majors = floors.map((m) => Number(m?.[1]));
      expect(majors, `${lib}: engines.node lines`).toEqual(
        [...new Set(tested.map((v) => Number(v.split(".")[0])))].sort((a, b) => a - b),
      );
      for (const v of tested) {
        const [major, minor] = v.split(".").map(Number);
        const floor = floors.find((m) => Number(m?.[1]) === major);
        expect(minor, `${lib}: Node ${v} is within ${engines.node}`).toBeGreaterThanOrEqual(
          Number(floor?.[2]),
        );
      }
    }
  });
});

describe.each(nodeLines.map((version) => ({ version })))("on Node.js $version", ({ version }) => {
  const node = (): string => {
    const line = lines.find((l) => l.version === version);
    if (line === undefined) throw new Error(`Node.js ${version} was not set up`);
    return line.binary;
  };

  it.each([
    ["ESM", "check.mjs", /dist\/index\.js$/],
    ["CJS", "check.cjs", /dist\/index\.cjs$/],
  ])("work from %s against a real mock server", async (_system, script, entry) => {
    const socketPath = join(project, `${script}-${version}.sock`);
    const out = (await sh(node(), [script, socketPath], project)).trim().split("\n");
    expect(out).toHaveLength(2);
    const { resolved } = JSON.parse(out[0] as string) as { resolved: string[] };
    for (const file of resolved) expect(file).toMatch(entry);
    expect(JSON.parse(out[1] as string)).toEqual({
      // One descriptor instance: the mocks use the api's WorkspaceContentService.
      sameDescriptor: true,
      tcp: true,
      tcpJson: '{"exists":true}',
      tcpError: "NOT_FOUND: workspace ws-2 is unknown (ConnectError: true)",
      unix: true,
      unixJson: '{"exists":true}',
      unixError: "NOT_FOUND: workspace ws-2 is unknown (ConnectError: true)",
      calls: ["ws-tcp", "ws-unix"],
    });
  });

  it("run the README's small example with the output it promises", async () => {
    const out = await sh(node(), ["out/readme-example.mjs"], project);
    expect(out.trimEnd().split("\n")).toEqual(promisedOutput(readmeExample));
  });
});
