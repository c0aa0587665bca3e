/**
 * A field added to an existing message is seen everywhere in the workspace after the one
 * documented command, with no manual rebuild: in a temporary copy of the repository whose
 * `@ws-daemon/api` has no dist/ yet (as after a fresh clone, or a stale one after a proto
 * edit), the mocks type-check and put the new field on the wire right after generation,
 * because they resolve the SDK's source; and the Nx generator's build then gives every other
 * consumer of `@ws-daemon/api` the new field too.
 */
import { execFile } from "node:child_process";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generate } from "../src/pipeline";
import { regenerateWorkspace } from "../src/regenerate-workspace";
import { copyRepository } from "./support/repo-copy";

const run = promisify(execFile);
let copy: string;

const newField =
  "  // Added by the test: a field the committed dist/ cannot know.\n  string note = 99;\n";

/** A test in the copy's libs/api-mocks: the new field travels from the mock to a client. */
const mocksTest = `import { createDaemonClients } from "@ws-daemon/api";
import { expect, it } from "vitest";
import { createMockTransport, createWorkspaceContentServiceMock } from "../src/index.js";

it("puts the new field on the wire", async () => {
  const mock = createWorkspaceContentServiceMock();
  mock.isWorkspaceExists.returns({ exists: true, note: "added to the proto" });
  const { content } = createDaemonClients(createMockTransport([mock]));
  const response = await content.isWorkspaceExists({ id: "ws-1" });
  expect(response.note).toBe("added to the proto");
});
`;

async function sh(cmd: string, args: string[], cwd: string): Promise<string> {
  try {
    // Output is matched as text: no colors, even when the test runner forces them.
    const { FORCE_COLOR: _, ...inherited } = process.env;
    const env = { ...inherited, NO_COLOR: "1" };
    const { stdout, stderr } = await run(cmd, args, { cwd, env, maxBuffer: 16 << 20 });
    return stdout + stderr;
  } catch (e) {
    const { stdout, stderr } = e as { stdout?: string; stderr?: string };
    throw new Error(`${cmd} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}\n${stderr ?? ""}`);
  }
}

beforeAll(async () => {
  copy = await copyRepository("wsd-proto-edit-");
  const proto = path.join(copy, "proto/wsdaemon/daemon.proto");
  const text = await readFile(proto, "utf8");
  const edited = text.replace(
    /(message IsWorkspaceExistsResponse \{\n {2}bool exists = 1;\n)/,
    `$1${newField}`,
  );
  expect(edited, "the test found IsWorkspaceExistsResponse to edit").not.toBe(text);
  await writeFile(proto, edited);
  await mkdir(path.join(copy, "libs/api-mocks/test"), { recursive: true });
  await writeFile(path.join(copy, "libs/api-mocks/test/new-field.test.ts"), mocksTest);
  // The generation pipeline alone (the cached Nx target), no build of anything.
  await generate({ root: copy });
});

afterAll(async () => {
  if (copy && !process.env.KEEP_TMP) await rm(copy, { recursive: true, force: true });
});

describe("after adding a field to a message", () => {
  const mocksDir = () => path.join(copy, "libs/api-mocks");
  const bin = (name: string) => path.join(copy, "node_modules/.bin", name);

  it("the copy is a real test: resolving @ws-daemon/api through node_modules fails", async () => {
    // Without tsconfig paths the import goes to libs/api-ts/dist, which does not exist yet.
    await writeFile(
      path.join(mocksDir(), "tsconfig.no-paths.json"),
      JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { paths: {} } }),
    );
    const failure = await sh(bin("tsc"), ["-p", "tsconfig.no-paths.json"], mocksDir()).catch(
      (e: unknown) => String(e),
    );
    expect(failure).toContain("Cannot find module '@ws-daemon/api'");
  });

  it("the mocks type-check against it without a build", async () => {
    await sh(bin("tsc"), ["-p", "tsconfig.json"], mocksDir());
  });

  it("the mocks put it on the wire in a plain `vitest run`", async () => {
    const out = await sh(bin("vitest"), ["run", "--reporter=verbose"], mocksDir());
    expect(out).toContain("puts the new field on the wire");
    expect(out).toMatch(/1 passed/);
  });

  it("the Nx generator's build hands it to every consumer of @ws-daemon/api", async () => {
    await regenerateWorkspace({ root: copy });
    const declarations = await readFile(path.join(copy, "libs/api-ts/dist/index.d.ts"), "utf8");
    expect(declarations).toMatch(/\bnote: string;/);
    for (const [system, script] of [
      [
        "ESM",
        'import("@ws-daemon/api").then((m) => console.log(m.IsWorkspaceExistsResponseSchema.fields.map((f) => f.name).join()))',
      ],
      [
        "CJS",
        'console.log(require("@ws-daemon/api").IsWorkspaceExistsResponseSchema.fields.map((f) => f.name).join())',
      ],
    ] as const) {
      const out = await sh(process.execPath, ["-e", script], copy);
      expect(out.trim(), system).toBe("exists,note");
    }
  });
});
