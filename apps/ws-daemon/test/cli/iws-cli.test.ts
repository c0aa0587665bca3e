import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const CLI = fileURLToPath(new URL("../../src/cli/iws-cli.ts", import.meta.url));

const run = (...args: string[]) => {
  const r = spawnSync(process.execPath, ["--import", "tsx", CLI, ...args], { encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr.split("\n")[0] };
};

describe("iws-cli command line", () => {
  it("answers --help on stdout with exit code 0", () => {
    const r = run("--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: iws-cli \[--socket PATH\]/);
    expect(r.stdout).toContain("write-id-mapping --pid V [--gid] --map V");
    for (const flag of ["--map C:H:S", "--via SERVICE", "--args OPTS"])
      expect(r.stdout).toContain(flag);
  });

  it("wrong command lines exit 2 and say what is wrong", () => {
    expect(run()).toMatchObject({ code: 2, stderr: "iws-cli: no command given" });
    expect(run("frobnicate")).toMatchObject({
      code: 2,
      stderr: 'iws-cli: unknown command "frobnicate"',
    });
    expect(run("teardown", "extra")).toMatchObject({
      code: 2,
      stderr: 'iws-cli: unexpected argument "extra"',
    });
    expect(run("--timeout-ms", "soon", "teardown")).toMatchObject({
      code: 2,
      stderr: "iws-cli: --timeout-ms must be a whole number",
    });
    expect(run("write-id-mapping", "--pid", "5", "--bogus").stderr).toMatch(
      /^iws-cli: Unknown option '--bogus'/,
    );
    expect(run("wiping-teardown", "--wipe=yes").code).toBe(2);
    expect(run("setup-pair-veths").stderr).toBe("iws-cli: --pid is required");
  });

  it("global flags before or after the command; a daemon that is not there exits 1 with the status", () => {
    for (const args of [
      // a negative pid is a value for the daemon to judge, not a flag
      ["--socket", "/nonexistent/daemon.sock", "mount-proc", "--pid", "-5", "--target", "/proc"],
      ["--socket", "/nonexistent/daemon.sock", "teardown"],
      ["teardown", "--socket=/nonexistent/daemon.sock"],
    ]) {
      expect(run(...args)).toMatchObject({
        code: 1,
        stderr: "UNAVAILABLE: connect ENOENT /nonexistent/daemon.sock",
      });
    }
  });
});
