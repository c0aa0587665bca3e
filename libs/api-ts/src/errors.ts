import { Code, ConnectError } from "@connectrpc/connect";

export interface CallStatus {
  code: Code;
  /**
   * The canonical gRPC name, e.g. "NOT_FOUND"; `LOCAL_ERROR` when the error did not come from a
   * call at all (see `local`).
   */
  codeName: string;
  /** The server's message, without the "[code]" prefix ConnectError adds. */
  message: string;
  /** Response metadata (headers and trailers) that came with the error. */
  metadata: Headers;
  error: ConnectError;
  /**
   * True when the error was thrown by local code, not by a call: a TypeError in a callback,
   * `JSON.stringify` of a response with int64 (bigint) fields, and so on. It is not a status
   * from the server or the transport; `code` is UNKNOWN only by convention, `codeName` is
   * `LOCAL_ERROR` and `message` says so.
   */
  local: boolean;
}

/** `codeName` of a local error: one that no call produced. */
export const localErrorName = "LOCAL_ERROR";

const codeNames: Record<number, string> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [v as number, k.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);

/** The gRPC name of a status code, e.g. `codeName(Code.NotFound) === "NOT_FOUND"`. */
export function codeName(code: Code): string {
  // connect spells the enum member "Canceled"; the gRPC status name is CANCELLED.
  if (code === Code.Canceled) return "CANCELLED";
  return codeNames[code] ?? `CODE_${code}`;
}

/**
 * Reads the status of any error thrown by a client call. Anything that is not a ConnectError
 * did not come from a call: it is reported as a local error (`local: true`, `codeName`
 * "LOCAL_ERROR"), so a bug in the caller's own code is not mistaken for a server status.
 */
export function statusOf(error: unknown): CallStatus {
  const e = ConnectError.from(error);
  if (e !== error) {
    const thrown = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return {
      code: e.code,
      codeName: localErrorName,
      message: `${thrown} (thrown locally, not a status from the server)`,
      metadata: e.metadata,
      error: e,
      local: true,
    };
  }
  return {
    code: e.code,
    codeName: codeName(e.code),
    message: e.rawMessage,
    metadata: e.metadata,
    error: e,
    local: false,
  };
}

/** Whether `error` carries one of the given status codes. */
export function hasCode(error: unknown, ...codes: Code[]): boolean {
  return error instanceof ConnectError && codes.includes(error.code);
}

/**
 * Callers of InitWorkspace treat ALREADY_EXISTS as success (the workspace is there); this
 * swallows exactly that error and rethrows everything else.
 */
export async function ignoreAlreadyExists<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (e) {
    if (hasCode(e, Code.AlreadyExists)) return undefined;
    throw e;
  }
}

export { Code, ConnectError };
