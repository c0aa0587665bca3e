import { type Logger, pino } from "pino";
import { logContext } from "./log-context.js";
import { prettyLogStream } from "./pretty-log-stream.js";

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

export type LogFormat = "auto" | "json" | "pretty";

/**
 * JSON lines for machines; with format "pretty" (or "auto" on a terminal) readable lines. Errors
 * go in the `err` field, which pino's serializer expands with stack and cause.
 */
export function createLogger(
  level: string,
  destination: NodeJS.WritableStream = process.stdout,
  format: LogFormat = "json",
): Logger {
  const pretty =
    format === "pretty" ||
    (format === "auto" && (destination as { isTTY?: boolean }).isTTY === true);
  return pino(
    {
      level,
      base: { service: "ws-daemon" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => ({ ...logContext.getStore() }),
    },
    pretty ? prettyLogStream(destination) : destination,
  );
}
