import { type Logger, pino } from "pino";
import { BatchedOutput } from "./batched-output.js";
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

/** JSON lines for stdout wait at most this long to be written in one batch (see BatchedOutput). */
const STDOUT_FLUSH_MS = 100;
const STDOUT_BATCH_CHARS = 64 * 1024;

/**
 * pino's isoTime makes a Date and its ISO string per line; lines written in the same
 * millisecond (several per ms under load) share one.
 */
function isoTimeOncePerMs(): () => string {
  let ms = -1;
  let field = "";
  return () => {
    const now = Date.now();
    if (now !== ms) {
      ms = now;
      field = `,"time":"${new Date(now).toISOString()}"`;
    }
    return field;
  };
}

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
  const output = pretty
    ? prettyLogStream(destination)
    : destination === process.stdout
      ? new BatchedOutput({ fd: 1, flushMs: STDOUT_FLUSH_MS, maxPendingChars: STDOUT_BATCH_CHARS })
      : destination;
  return pino(
    {
      level,
      base: { service: "ws-daemon" },
      redact: { paths: redactPaths, censor: "[redacted]" },
      timestamp: isoTimeOncePerMs(),
      mixin: () => ({ ...logContext.getStore() }),
    },
    output,
  );
}
