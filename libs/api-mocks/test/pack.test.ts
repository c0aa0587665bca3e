import { execFile } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/**
 * The published shape of both packages: pack the tarballs, install them with the pinned peer
 * dependencies into a project outside the monorepo (no workspace links, no hoisting from
 * /work/main), and use them from ESM and from CJS against a real mock server. One install
 * serves both packages, since @ws-daemon/api-mocks needs @ws-daemon/api anyway.
 */
const run = promisify(execFile);
const libs = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const repoRoot = resolve(libs, "..");
const packages = [join(libs, "api-ts"), join(libs, "api-mocks")];
const peers = [
  "@bufbuild/protobuf@2.13.0",
  "@connectrpc/connect@2.1.2",
  "@connectrpc/connect-node@2.1.2",
];

/** The newest modification time below a directory. */
function newest(dir: string): number {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile())
      latest = Math.max(latest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return latest;
}

/** npm settings inherited from an `npm test` in the monorepo must not leak into the temp project. */
function cleanEnv(): NodeJS.ProcessEnv {
  const keep = new Set(["npm_config_registry", "npm_config_cache", "npm_config_userconfig"]);
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) || keep.has(k.toLowerCase())),
  );
}

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run(cmd, args, { cwd, env: cleanEnv(), maxBuffer: 16 << 20 });
    return stdout;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}

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
    out[name] = (await client.isWorkspaceExists({ id: "ws-" + name })).exists;
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
const tsconfig = () => ({
  compilerOptions: {
    module: "NodeNext",
    moduleResolution: "NodeNext",
    target: "ES2022",
    strict: true,
    noEmit: true,
    // Our usage must type-check; re-checking every third-party .d.ts would only add time.
    skipLibCheck: true,
    // A consumer has @types/node; borrow the monorepo's rather than download it again.
    typeRoots: [join(repoRoot, "node_modules/@types")],
    types: ["node"],
    lib: ["ES2023", "DOM"],
  },
  files: ["types-check.mts", "types-check.cts"],
});

let project: string;
let outsideWorkspace = false;

beforeAll(async () => {
  for (const pkg of packages) {
    const built = join(pkg, "dist/index.js");
    if (!existsSync(built) || newest(join(pkg, "src")) > statSync(built).mtimeMs) {
      await sh("npx", ["tsup"], pkg);
    }
  }
  project = await mkdtemp(join(tmpdir(), "wsd-pack-"));
  outsideWorkspace = relative(repoRoot, project).startsWith("..");
  const tarballs: string[] = [];
  for (const pkg of packages) {
    const packed = JSON.parse(
      await sh("npm", ["pack", "--json", "--pack-destination", project], pkg),
    ) as { filename: string }[];
    tarballs.push(`./${packed[0]?.filename}`);
  }
  await writeFile(
    join(project, "package.json"),
    JSON.stringify({ name: "wsd-pack-check", version: "0.0.0", private: true }),
  );
  await sh(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--no-package-lock",
      ...tarballs,
      ...peers,
    ],
    project,
  );
  await Promise.all([
    writeFile(join(project, "check.mjs"), esm),
    writeFile(join(project, "check.cjs"), cjs),
    writeFile(join(project, "types-check.mts"), typesEsm),
    writeFile(join(project, "types-check.cts"), typesCjs),
    writeFile(join(project, "tsconfig.json"), JSON.stringify(tsconfig())),
  ]);
}, 300_000);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

describe("the packed @ws-daemon/api and @ws-daemon/api-mocks", () => {
  it("install into a project outside the monorepo", () => {
    expect(outsideWorkspace).toBe(true);
    // Real copies from the tarballs, not links back into the monorepo.
    for (const name of ["api", "api-mocks"]) {
      const dir = join(project, "node_modules/@ws-daemon", name);
      expect(statSync(dir).isDirectory()).toBe(true);
      expect(existsSync(join(dir, "dist/index.d.ts"))).toBe(true);
      expect(existsSync(join(dir, "src"))).toBe(false);
    }
  });

  it.each([
    ["ESM", "check.mjs", /dist\/index\.js$/],
    ["CJS", "check.cjs", /dist\/index\.cjs$/],
  ])("work from %s against a real mock server", async (_system, script, entry) => {
    const socketPath = join(project, `${script}.sock`);
    const lines = (await sh(process.execPath, [script, socketPath], project)).trim().split("\n");
    expect(lines).toHaveLength(2);
    const { resolved } = JSON.parse(lines[0] as string) as { resolved: string[] };
    for (const file of resolved) expect(file).toMatch(entry);
    expect(JSON.parse(lines[1] as string)).toEqual({
      // One descriptor instance: the mocks use the api's WorkspaceContentService.
      sameDescriptor: true,
      tcp: true,
      tcpError: "NOT_FOUND: workspace ws-2 is unknown (ConnectError: true)",
      unix: true,
      unixError: "NOT_FOUND: workspace ws-2 is unknown (ConnectError: true)",
      calls: ["ws-tcp", "ws-unix"],
    });
  });

  it("ship type declarations that resolve from ESM and CJS", async () => {
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    await sh(process.execPath, [tsc, "-p", "tsconfig.json"], project);
  });
});
