/**
 * The TypeScript in the documentation compiles: every ```ts block of the root README, both
 * libraries' READMEs and docs/ is type-checked (strict, each block a module of its own) against
 * the workspace packages' sources; each library README opens with an example, and the mocks'
 * README example, a vitest test, passes. The root README's first example runs in
 * pack.test.ts against the packed packages.
 */
import { existsSync } from "node:fs";
import { mkdir, readdir, rm, writeFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { type CodeBlock, codeBlocks } from "./support/readme-blocks.js";
import { sh } from "./support/shell.js";

const libs = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const repoRoot = resolve(libs, "..");
/** Inside the repository (so packages resolve from its node_modules) and ignored by git. */
const work = join(repoRoot, "node_modules", ".cache", "readme-examples");

const libReadmes = ["libs/api-ts/README.md", "libs/api-mocks/README.md"];

async function documents(): Promise<string[]> {
  const docs = existsSync(join(repoRoot, "docs"))
    ? (await readdir(join(repoRoot, "docs")))
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`)
    : [];
  return ["README.md", ...libReadmes, ...docs];
}

interface Example extends CodeBlock {
  document: string;
  file: string;
}

const examples: Example[] = [];

const sourcePaths = {
  "@ws-daemon/api": [join(libs, "api-ts/src/index.ts")],
  "@ws-daemon/api-mocks": [join(libs, "api-mocks/src/index.ts")],
};

beforeAll(async () => {
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });
  for (const document of await documents()) {
    const blocks = await codeBlocks(join(repoRoot, document));
    blocks.forEach((block, i) => {
      const file = `${document.replaceAll("/", "__")}--${i + 1}.mts`;
      examples.push({ ...block, document, file });
    });
  }
  for (const e of examples) {
    await writeFile(join(work, e.file), `// ${e.document}, under "${e.section}"\n${e.code}`);
  }
  await writeFile(
    join(work, "tsconfig.json"),
    JSON.stringify({
      extends: relative(work, join(repoRoot, "tsconfig.base.json")),
      compilerOptions: {
        lib: ["ES2023", "DOM"],
        // Examples may leave a result unused to show its name.
        noUnusedLocals: false,
        paths: sourcePaths,
      },
      files: examples.map((e) => e.file),
    }),
  );
}, 60_000);

describe("TypeScript in the documentation", () => {
  it("there is some in each README", () => {
    for (const document of ["README.md", ...libReadmes]) {
      expect(
        examples.filter((e) => e.document === document).length,
        `${document} has ts blocks`,
      ).toBeGreaterThan(0);
    }
  });

  it("the SDK README shows watching progress with watchWorkspace (type-checked below)", () => {
    const watch = examples.filter(
      (e) => e.document === "libs/api-ts/README.md" && e.section === "Watching progress",
    );
    expect(watch.map((e) => e.code).join("\n")).toContain("watchWorkspace(content,");
  });

  it("type-checks against the workspace packages", async () => {
    const tsc = join(repoRoot, "node_modules/typescript/bin/tsc");
    const result = await sh(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit"], work).then(
      () => "",
      (e: unknown) => String(e),
    );
    // tsc names the generated file; its first line says which document and section it is.
    expect(result, `type errors in documentation examples (files in ${work})`).toBe("");
  });

  it.each(libReadmes)("%s opens with an example, before its first section", async (document) => {
    const [first] = await codeBlocks(join(repoRoot, document));
    expect(first?.section, "the first ts block stands under the title").toMatch(/^@ws-daemon\//);
  });

  it("the mocks README's opening example passes as a vitest test", async () => {
    const [first] = examples.filter((e) => e.document === "libs/api-mocks/README.md");
    expect(first?.code).toContain('from "vitest"');
    const dir = join(work, "mocks-readme");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "readme-example.test.ts"), first?.code ?? "");
    await writeFile(
      join(dir, "vitest.config.mts"),
      `import { defineConfig } from "vitest/config";
export default defineConfig({
  // Exact names: vite matches "@ws-daemon/api" for "@ws-daemon/api/..." only, never "-mocks".
  resolve: { alias: ${JSON.stringify(
    Object.fromEntries(Object.entries(sourcePaths).map(([name, [path]]) => [name, path])),
  )} },
  test: { include: ["readme-example.test.ts"] },
});
`,
    );
    const vitest = join(repoRoot, "node_modules/vitest/vitest.mjs");
    const out = await sh(process.execPath, [vitest, "run", "--reporter=verbose"], dir);
    expect(out).toContain("reports a workspace that is not ready");
    expect(out).toMatch(/1 passed/);
  });
});
