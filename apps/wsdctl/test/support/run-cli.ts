import { Writable } from "node:stream";
import { createMockTransport } from "@ws-daemon/api-mocks";
import { type RunOptions, run } from "../../src/index.js";

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

const sink = (into: string[]) =>
  new Writable({
    write(chunk: Buffer, _enc, cb) {
      into.push(chunk.toString("utf8"));
      cb();
    },
  });

/** Runs wsdctl in process against mocks (in memory, no port), capturing both streams. */
export async function runCli(
  argv: string[],
  mocks: Parameters<typeof createMockTransport>[0] = [],
  options: Partial<RunOptions> = {},
): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const transport = createMockTransport(mocks);
  const code = await run(argv, {
    stdout: sink(out),
    stderr: sink(err),
    stdoutIsTTY: false,
    stderrIsTTY: false,
    env: { HOME: "/nonexistent" },
    transport,
    inWorkspaceTransport: transport,
    ...options,
  });
  return { code, stdout: out.join(""), stderr: err.join("") };
}
