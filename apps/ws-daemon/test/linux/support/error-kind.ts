import { LinuxOpError } from "../../../src/linux/errors.js";

/**
 * How an operation ends: "ok", the kind of the LinuxOpError it fails with, or "other: <error>"
 * for any other failure (which no test expects).
 */
export async function errorKind(work: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof work === "function" ? work() : work);
    return "ok";
  } catch (err) {
    return err instanceof LinuxOpError ? err.kind : `other: ${String(err)}`;
  }
}
