import { type Logger, pino } from "pino";
import { logContext } from "./log-context.js";

export type { Logger };

/**
 * Field names that may carry secrets anywhere in a log object. pino removes them before a
 * line is written, so a careless `log.info({ request })` cannot leak a token.
 */
const redactPaths = [
  "password",
  "*.password",
  "authPassword",
  "*.authPassword",
  "*.*.authPassword",
  "authOts",
  "*.authOts",
  "*.*.authOts",
  "secretAccessKey",
  "*.secretAccessKey",
  "authorization",
  "*.authorization",
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: "ws-daemon" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => ({ ...logContext.getStore() }),
    },
    destination ?? process.stdout,
  );
}
