/**
 * Asking either entry point for help describes it, and does nothing else: the Nx generator's
 * `--help` shows the schema's description (it printed "undefined" without one), and the CLI
 * behind the cached target prints its usage instead of regenerating.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import * as path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { parseCliArgs } from "../src/cli-args";
import { repo } from "./support/repo-copy";

const run = promisify(execFile);

describe("the Nx generator's --help", () => {
  it("shows the schema's description and options, and no 'undefined'", async () => {
    const { stdout } = await run(
      path.join(repo, "node_modules/.bin/nx"),
      ["g", "@ws-daemon/generate:generate", "--help"],
      { cwd: repo, env: { ...process.env, NX_DAEMON: "false", NO_COLOR: "1" } },
    );
    const schema = JSON.parse(
      await readFile(path.join(__dirname, "../src/generators/generate/schema.json"), "utf8"),
    ) as { description?: string };
    expect(schema.description).toBeTruthy();
    expect(stdout).not.toContain("undefined");
    expect(stdout.replace(/\s+/g, " ")).toContain("Regenerates libs/api-ts/src/gen and");
    expect(stdout).toContain("--skipBuild");
    expect(stdout).toContain("--verbose");
  });
});

describe("the CLI", () => {
  it("prints its usage for --help and -h, without generating", async () => {
    for (const flag of ["--help", "-h"]) {
      const { stdout } = await run(
        path.join(repo, "node_modules/.bin/tsx"),
        [path.join(__dirname, "../src/cli.ts"), flag, "--root", "/nonexistent"],
        { cwd: repo },
      );
      expect(stdout).toMatch(/^Usage: tsx tools\/generate\/src\/cli\.ts \[--root DIR\]/);
      expect(stdout).not.toContain("buf generate");
    }
  });

  it("rejects what it does not know, with exit code 2", async () => {
    const failure = await run(
      path.join(repo, "node_modules/.bin/tsx"),
      [path.join(__dirname, "../src/cli.ts"), "--roots", "x"],
      { cwd: repo },
    ).catch((e: unknown) => e as { code?: number; stderr?: string });
    expect(failure).toMatchObject({ code: 2 });
    expect((failure as { stderr?: string }).stderr).toContain('unknown argument "--roots"');
  });

  it("parses its arguments", () => {
    expect(parseCliArgs([])).toEqual({ kind: "run", root: undefined });
    expect(parseCliArgs(["--root", "../.."])).toEqual({ kind: "run", root: "../.." });
    expect(parseCliArgs(["--root=/r"])).toEqual({ kind: "run", root: "/r" });
    expect(parseCliArgs(["--root"])).toEqual({
      kind: "error",
      message: "--root needs a directory",
    });
    expect(parseCliArgs(["--root", "/r", "--help"])).toEqual({ kind: "help" });
  });
});
