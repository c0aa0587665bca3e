import {
  createRegistry,
  type DescFile,
  type JsonValue,
  type JsonWriteOptions,
  type Message,
  toJson,
} from "@bufbuild/protobuf";
import * as generated from "./gen/index.js";

const files = Object.values(generated).filter(
  (value): value is DescFile =>
    typeof value === "object" && value !== null && "kind" in value && value.kind === "file",
);

/**
 * Every message, enum and service of the Workspace Daemon API, e.g. for protobuf-es
 * `toJson`/`fromJson` of messages in a `google.protobuf.Any`, or to look a type up by name.
 */
export const apiRegistry = createRegistry(...files);

/**
 * A message of the API as plain proto3 JSON, ready for `JSON.stringify` or a snapshot test.
 * `JSON.stringify(response)` itself throws on int64 fields (they are bigints); here they become
 * strings, enums become their names, and bytes base64, as in the proto3 JSON mapping. Fields
 * with default values are included unless `alwaysEmitImplicit: false` is passed.
 *
 * ```ts
 * const { gitStatus } = await content.disposeWorkspace({ id: "ws-1", backup: true });
 * if (gitStatus) console.log(toJsonText(gitStatus));
 * ```
 */
export function toPlainJson(message: Message, options?: Partial<JsonWriteOptions>): JsonValue {
  const schema = apiRegistry.getMessage(message.$typeName);
  if (schema === undefined) {
    throw new Error(
      `${message.$typeName} is not a message of the Workspace Daemon API: use toJson(schema, message) from @bufbuild/protobuf`,
    );
  }
  return toJson(schema, message, { alwaysEmitImplicit: true, ...options });
}

/** `toPlainJson` as indented text, for printing a response. */
export function toJsonText(
  message: Message,
  options?: Partial<JsonWriteOptions> & { indent?: number },
): string {
  const { indent = 2, ...json } = options ?? {};
  return JSON.stringify(toPlainJson(message, json), null, indent);
}

/** The protobuf-es functions, for messages of other schemas (they take the schema first). */
export { toJson, toJsonString } from "@bufbuild/protobuf";
