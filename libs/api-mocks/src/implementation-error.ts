import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { DebugInfoSchema } from "./debug-info.js";

/**
 * What a client receives when a mock's `implement()` function (or a stubbed value that does
 * not fit the response type) throws something other than a ConnectError. connect would answer
 * a bare "internal error"; this keeps what was thrown in the message (visible in any test
 * output) and its stack in a `google.rpc.DebugInfo` detail, which travels on the Connect, gRPC
 * and gRPC-Web protocols alike. A ConnectError is passed on unchanged: it is a deliberate
 * status.
 */
export function implementationError(method: DescMethod, thrown: unknown): ConnectError {
  if (thrown instanceof ConnectError) return thrown;
  const detail =
    thrown instanceof Error
      ? `${thrown.name}: ${thrown.message}`
      : `non-error value: ${String(thrown)}`;
  const stackEntries =
    thrown instanceof Error && typeof thrown.stack === "string"
      ? thrown.stack
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => line.startsWith("at "))
      : [];
  return new ConnectError(
    `mock of ${method.parent.typeName}.${method.name} threw ${detail}`,
    Code.Internal,
    undefined,
    [{ desc: DebugInfoSchema, value: { detail, stackEntries } }],
    thrown,
  );
}
