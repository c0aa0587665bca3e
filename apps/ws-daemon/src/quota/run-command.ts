import type { ProcessRunner, RunResult } from "../platform/index.js";
import { QuotaError } from "./quota-enforcer.js";

const describe = (command: string, args: readonly string[], r: RunResult): string => {
  const output = (r.stderr.trim() || r.stdout.trim()).slice(0, 2000);
  const how = r.signal ? `signal ${r.signal}` : `exit code ${r.exitCode}`;
  return `${command} ${args.join(" ")} failed (${how})${output ? `: ${output}` : ""}`;
};

/** Runs a command and fails with a QuotaError unless its exit code is one of `okCodes`. */
export const runChecked = async (
  runner: ProcessRunner,
  command: string,
  args: readonly string[],
  okCodes: readonly number[] = [0],
): Promise<RunResult> => {
  let result: RunResult;
  try {
    result = await runner.run(command, args);
  } catch (err) {
    throw new QuotaError("failed", `cannot run ${command}: ${String(err)}`, { cause: err });
  }
  if (result.signal || !okCodes.includes(result.exitCode)) {
    throw new QuotaError("failed", describe(command, args, result));
  }
  return result;
};
