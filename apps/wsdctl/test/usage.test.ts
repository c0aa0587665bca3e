/** --help on every command, usage errors (exit 2, nothing sent), connection flags, completion. */
import { spawnSync } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { createWorkspaceContentServiceMock } from "@ws-daemon/api-mocks";
import { describe, expect, it } from "vitest";
import { allCommands, run } from "../src/index.js";
import { runCli } from "./support/run-cli.js";

describe("wsdctl command line", () => {
  it("answers --help (and `help <command>`) for every command on stdout with exit 0", async () => {
    const main = await runCli(["--help"]);
    expect(main.code).toBe(0);
    expect(main.stdout).toMatch(/^wsdctl: operate a Workspace Daemon/);
    expect(main.stdout).toMatch(/^ {2}69\s+NOT_FOUND$/m);
    for (const c of allCommands({})) {
      const r = await runCli([...c.name.split(" "), "--help"]);
      expect(r.code, c.name).toBe(0);
      expect(r.stdout, c.name).toContain(`usage: wsdctl ${c.name}`);
      for (const flag of Object.keys(c.flags))
        expect(r.stdout, `${c.name} --${flag}`).toContain(`--${flag}`);
    }
    expect((await runCli(["help", "dispose"])).stdout).toContain("usage: wsdctl dispose <id>");
    expect((await runCli(["init", "--help"])).stdout).toContain("init prebuild");
    expect((await runCli(["iws", "--help"])).stdout).toContain("iws write-id-mapping");
  });

  it("wrong command lines exit 2, say what is wrong and send nothing", async () => {
    const content = createWorkspaceContentServiceMock();
    const cases: [string[], string][] = [
      [[], "no command given"],
      [["frobnicate"], 'unknown command "frobnicate"'],
      [["get"], "the workspace id is missing"],
      [["get", "a", "b"], 'unexpected argument "b"'],
      [["list", "--bogus"], "Unknown option '--bogus'"],
      [["list", "-o", "yaml"], '--output is text or json, got "yaml"'],
      [["init"], "wsdctl init needs a kind"],
    ];
    for (const [argv, message] of cases) {
      const r = await runCli(argv, [content]);
      expect(r.code, argv.join(" ")).toBe(2);
      expect(r.stderr).toContain(message);
    }
    expect(content.$calls()).toHaveLength(0);
  });

  it("connection flags: bad combinations are usage errors; an unreachable daemon is UNAVAILABLE (78)", async () => {
    const go = (argv: string[], env: NodeJS.ProcessEnv = {}) =>
      run(argv, {
        env: { HOME: "/nonexistent", ...env },
        stdout: sinkOf([]),
        stderr: sinkOf(errors),
      });
    const errors: string[] = [];
    expect(await go(["list", "--cert", "c.pem"])).toBe(2);
    expect(errors.join("")).toContain("mutual TLS needs both --cert and --key");
    expect(await go(["list", "--ca", "ca.pem"])).toBe(2);
    expect(await go(["list", "--timeout", "soon"])).toBe(2);
    expect(await go(["list", "--context", "prod"])).toBe(2);
    expect(errors.join("")).toContain("cannot read the context file");
    expect(await go(["list", "--socket", "/nonexistent/wsd.sock"])).toBe(78);
    expect(await go(["list"], { WSDCTL_ADDRESS: "http://127.0.0.1:1" })).toBe(78);
    const dir = await mkdtemp(join(tmpdir(), "wsdctl-ctx-"));
    const file = join(dir, "contexts.json");
    await writeFile(
      file,
      JSON.stringify({ current: "a", contexts: { a: { address: "unix:///nonexistent/a.sock" } } }),
    );
    errors.length = 0;
    expect(await go(["list", "--config", file])).toBe(78);
    expect(errors.join("")).toContain("/nonexistent/a.sock");
    expect(await go(["list", "--config", file, "--context", "b"])).toBe(2);
  });

  it("completion: the bash script completes commands, kinds, flags and flag values", async () => {
    const script = (await runCli(["completion", "bash"])).stdout;
    const zsh = (await runCli(["completion", "zsh"])).stdout;
    expect(zsh).toContain("bashcompinit");
    const complete = (words: string[]) => {
      const cword = words.length - 1;
      const r = spawnSync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${cword}; _wsdctl; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      );
      return r.stdout.trim().split(" ").filter(Boolean);
    };
    expect(complete(["wsdctl", "di"])).toEqual(["dispose"]);
    expect(complete(["wsdctl", "init", "pre"])).toEqual(["prebuild"]);
    expect(complete(["wsdctl", "init", "git", "ws-1", "--full"])).toEqual(["--full-clone"]);
    expect(complete(["wsdctl", "--address", "http://x", "dispose", "ws-1", "--back"])).toEqual([
      "--backup",
      "--backup-logs",
    ]);
    expect(complete(["wsdctl", "list", "-o", ""])).toEqual(["text", "json"]);
    expect(complete(["wsdctl", "iws", "write-id-mapping", "--"])).toEqual(
      expect.arrayContaining(["--pid", "--map", "--gid", "--address"]),
    );
  });
});

function sinkOf(into: string[]) {
  return new Writable({
    write(chunk: Buffer, _e: string, cb: () => void) {
      into.push(chunk.toString());
      cb();
    },
  });
}
