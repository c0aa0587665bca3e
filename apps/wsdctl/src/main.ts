import { run } from "./run.js";

/**
 * The process entry: Ctrl-C aborts the running command (which ends its display cleanly and exits
 * 130); a second Ctrl-C exits at once.
 */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    process.exitCode = await run(argv, { signal: controller.signal });
  } catch (e) {
    process.stderr.write(`wsdctl: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  } finally {
    process.off("SIGINT", onSigint);
  }
}
