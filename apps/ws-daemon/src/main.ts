/**
 * The daemon's entry point: `node dist/main.js [--config file] [--listen.port=8080 ...]`.
 * Exit codes: 0 after a clean shutdown, 1 on a fatal error or a forced second signal,
 * 2 for an invalid configuration or a missing prerequisite (git, zstd).
 */
import packageJson from "../package.json" with { type: "json" };
import { ConfigError, helpText, loadConfig } from "./config/index.js";
import { StartupError, startDaemon } from "./daemon.js";
import { createLogger } from "./observability/index.js";

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(helpText(packageJson.version));
    return;
  }
  if (argv.includes("--version")) {
    process.stdout.write(`${packageJson.version}\n`);
    return;
  }
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig({ argv, env: process.env });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ws-daemon: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.log.level, process.stdout, config.log.format);
  let daemon: Awaited<ReturnType<typeof startDaemon>>;
  try {
    daemon = await startDaemon(config, logger);
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`ws-daemon: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }

  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      // State files are written atomically at every transition, so leaving now is consistent.
      logger.warn({ signal }, "second signal: exiting at once");
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, "shutting down");
    daemon.stop(config.shutdownGraceMs).then(
      () => process.exit(0),
      (e: unknown) => {
        logger.error({ err: e }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

main().catch((e: unknown) => {
  process.stderr.write(`ws-daemon: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
