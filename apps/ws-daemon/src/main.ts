/**
 * The daemon's entry point: `node dist/main.js [--config file] [--listen.port=8080 ...]`.
 * Exit codes: 0 after a clean shutdown, 1 on a fatal error or a forced second signal,
 * 2 for an invalid configuration.
 */
import { ConfigError, loadConfig } from "./config/index.js";
import { startDaemon } from "./daemon.js";
import { createLogger } from "./observability/index.js";

async function main(): Promise<void> {
  let config: Awaited<ReturnType<typeof loadConfig>>;
  try {
    config = await loadConfig({ argv: process.argv.slice(2), env: process.env });
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`ws-daemon: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const daemon = await startDaemon(config, logger);

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
