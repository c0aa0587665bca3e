import { Code } from "@ws-daemon/api";

/**
 * wsdctl's exit codes. A call that fails with a gRPC status exits with 64 + the status code, as
 * grpcurl does, so scripts can tell NOT_FOUND (69) from UNAVAILABLE (78) without parsing text.
 */
export const EXIT = {
  ok: 0,
  /** A local failure: a file that cannot be read, a health check that is not SERVING. */
  failure: 1,
  /** The command line is wrong; nothing was sent. */
  usage: 2,
  /** Interrupted with Ctrl-C (128 + SIGINT). */
  interrupted: 130,
} as const;

export const STATUS_EXIT_BASE = 64;

export const exitCodeOf = (code: Code): number => STATUS_EXIT_BASE + code;

/** Rows of the exit code table (README and `wsdctl --help`). */
export const exitCodeTable = (): [number, string][] => [
  [EXIT.ok, "success"],
  [EXIT.failure, "local failure (e.g. unreadable file, health not SERVING)"],
  [EXIT.usage, "wrong command line"],
  ...Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([name, v]): [number, string] => [
      exitCodeOf(v as Code),
      name
        .replace(/([a-z])([A-Z])/g, "$1_$2")
        .toUpperCase()
        .replace("CANCELED", "CANCELLED"),
    ]),
  [EXIT.interrupted, "interrupted (Ctrl-C)"],
];
