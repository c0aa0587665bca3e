import { type DescMessage, type MessageShape, toJsonString } from "@bufbuild/protobuf";
import type { CommandContext } from "./command.js";

/** A response as proto3 JSON (defaults included, int64 as strings), one document. */
export function printMessage<D extends DescMessage>(
  ctx: CommandContext,
  schema: D,
  message: MessageShape<D>,
): void {
  ctx.stdout.write(
    `${toJsonString(schema, message, { alwaysEmitImplicit: true, prettySpaces: 2 })}\n`,
  );
}

export function printLine(ctx: CommandContext, text: string): void {
  ctx.stdout.write(`${text}\n`);
}
