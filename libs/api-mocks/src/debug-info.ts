import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage } from "@bufbuild/protobuf/codegenv2";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import { ConnectError } from "@connectrpc/connect";

/**
 * `google.rpc.DebugInfo` (from google/rpc/error_details.proto), the standard error detail for a
 * stack trace. A mock whose implementation throws sends one, so any gRPC client (grpc-go's
 * `errdetails.DebugInfo`, grpc-js, connect) can read where the exception came from.
 */
export type DebugInfo = Message<"google.rpc.DebugInfo"> & {
  /** The stack trace, one frame per entry. */
  stackEntries: string[];
  /** What was thrown, e.g. "TypeError: x is not a function". */
  detail: string;
};

const typeName = "google.rpc.DebugInfo";

// The two fields of the upstream message, described here so the mocks need no extra .proto.
const registry = createFileRegistry(
  create(FileDescriptorProtoSchema, {
    name: "google/rpc/debug_info.proto",
    package: "google.rpc",
    syntax: "proto3",
    messageType: [
      {
        name: "DebugInfo",
        field: [
          {
            name: "stack_entries",
            jsonName: "stackEntries",
            number: 1,
            type: FieldDescriptorProto_Type.STRING,
            label: FieldDescriptorProto_Label.REPEATED,
          },
          {
            name: "detail",
            jsonName: "detail",
            number: 2,
            type: FieldDescriptorProto_Type.STRING,
            label: FieldDescriptorProto_Label.OPTIONAL,
          },
        ],
      },
    ],
  }),
  () => undefined,
);

function lookUp(): GenMessage<DebugInfo> {
  const desc = registry.getMessage(typeName);
  if (desc === undefined) throw new Error(`${typeName} is missing from its own registry`);
  return desc as GenMessage<DebugInfo>;
}

/** The descriptor of `google.rpc.DebugInfo`, for `ConnectError.findDetails()`. */
export const DebugInfoSchema: GenMessage<DebugInfo> = lookUp();

/**
 * The `google.rpc.DebugInfo` detail of an error from a call, if it has one. A mock whose
 * `implement()` function throws sends the thrown error's stack this way:
 *
 * ```ts
 * const e = await client.takeSnapshot({ id: "ws-1" }).catch((e: unknown) => e);
 * console.log(debugInfoOf(e)?.stackEntries.join("\n"));
 * ```
 */
export function debugInfoOf(error: unknown): DebugInfo | undefined {
  if (!(error instanceof ConnectError)) return undefined;
  return error.findDetails(DebugInfoSchema)[0];
}
