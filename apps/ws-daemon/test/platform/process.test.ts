import { describe, expect, it } from "vitest";
import {
  DomainError,
  describeFailure,
  NodeProcessRunner,
  runChecked,
} from "../../src/platform/index.js";

const runner = new NodeProcessRunner();

describe("runChecked", () => {
  it("returns the result of a command that exits 0", async () => {
    const r = await runChecked(runner, "sh", ["-c", "echo out; echo err >&2"]);
    expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, "out\n", "err\n"]);
  });

  it("a non-zero exit is an internal DomainError naming the command, its exit code and stderr", async () => {
    const err = await runChecked(runner, "sh", ["-c", "echo broken >&2; exit 3"]).catch((e) => e);
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({
      kind: "internal",
      message: "sh -c echo broken >&2; exit 3 failed (exit code 3): broken",
    });
  });

  it("accepts the exit codes it is told are fine", async () => {
    const r = await runChecked(runner, "sh", ["-c", "exit 2"], { okCodes: [0, 2] });
    expect(r.exitCode).toBe(2);
  });

  it("builds the caller's error, also when the command cannot be started", async () => {
    const toError = (message: string) => new DomainError("failed-precondition", message);
    await expect(runChecked(runner, "/nonexistent/tool", [], { toError })).rejects.toMatchObject({
      kind: "failed-precondition",
      message: expect.stringMatching(/^cannot run \/nonexistent\/tool: .*ENOENT/),
    });
    await expect(runChecked(runner, "false", [], { toError })).rejects.toMatchObject({
      kind: "failed-precondition",
      message: "false  failed (exit code 1)",
    });
  });

  it("a command killed by a signal fails even with exit code filters", async () => {
    await expect(
      runChecked(runner, "sh", ["-c", "kill -TERM $$"], { okCodes: [0, -1] }),
    ).rejects.toMatchObject({ message: expect.stringContaining("(signal SIGTERM)") });
  });

  it("an aborted run rethrows the abort, not a wrapped error", async () => {
    const controller = new AbortController();
    const run = runChecked(runner, "sleep", ["5"], { signal: controller.signal });
    controller.abort();
    await expect(run).rejects.toMatchObject({ name: "AbortError" });
  });

  it("describeFailure keeps the end of long output", () => {
    const long = `${"x".repeat(3000)}END`;
    const text = describeFailure("cmd", ["a"], {
      exitCode: 1,
      signal: null,
      stdout: long,
      stderr: "",
    });
    expect(text.endsWith("END")).toBe(true);
    expect(text.length).toBeLessThan(2100);
  });
});
