/**
 * The one logger type every module receives. A structured line: level, message, fields. A caught
 * error always goes in the `err` field (never as its message alone), so its stack and cause reach
 * the log; the daemon's pino serializer expands it.
 */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown> & { err?: unknown };

export type Log = (level: LogLevel, message: string, fields?: LogFields) => void;

/** Discards everything (the default where a caller passes no logger). */
export const silentLog: Log = () => {};

/** A logger that adds fixed fields (e.g. the component) to every line. */
export const withFields =
  (log: Log, fixed: LogFields): Log =>
  (level, message, fields) =>
    log(level, message, { ...fixed, ...fields });

/** The shape of a pino logger that `fromPino` adapts, without depending on pino here. */
export interface LevelLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Adapts a pino-style logger to the Log type. */
export const fromLevelLogger =
  (logger: LevelLogger, fixed: LogFields = {}): Log =>
  (level, message, fields) =>
    logger[level]({ ...fixed, ...fields }, message);
