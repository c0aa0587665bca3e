/**
 * Every message of the API survives a binary round trip with every field set, each oneof case
 * included, and decodes to the same value in JSON.
 */
import {
  create,
  type DescField,
  type DescMessage,
  equals,
  fromBinary,
  fromJson,
  ScalarType,
  toBinary,
  toJson,
} from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { describe, expect, it } from "vitest";
import * as api from "../src/index.js";

const messages: DescMessage[] = (Object.values(api) as unknown[]).filter(
  (v): v is DescMessage =>
    typeof v === "object" &&
    v !== null &&
    "kind" in v &&
    (v as { kind: string }).kind === "message",
);

function scalarValue(t: ScalarType, seed: number): unknown {
  switch (t) {
    case ScalarType.STRING:
      return `v${seed} ü/ä "quoted" \n`;
    case ScalarType.BYTES:
      return new Uint8Array([seed, 0, 255]);
    case ScalarType.BOOL:
      return true;
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return BigInt(-(2 ** 40) - seed);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return BigInt(2 ** 40 + seed);
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return -1000 - seed;
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return 4_000_000_000 - seed;
    case ScalarType.FLOAT:
      return 1.5;
    case ScalarType.DOUBLE:
      return 2.25;
  }
}

const lastEnumValue = (f: { enum: { values: { number: number }[] } }) => {
  const last = f.enum.values.at(-1);
  if (!last) throw new Error("an enum without values");
  return last.number;
};

/** Builds an init object with every field set; `oneofChoice` picks which oneof member to set. */
function fill(desc: DescMessage, depth: number, oneofChoice = 0): Record<string, unknown> {
  // Well-known types restrict their values for JSON: a Timestamp is a date between the years 1
  // and 9999, not any pair of integers.
  if (desc.typeName === "google.protobuf.Timestamp") {
    return { seconds: 1_700_000_000n + BigInt(depth), nanos: 123_000_000 };
  }
  const init: Record<string, unknown> = {};
  const fieldValue = (f: DescField, seed: number): unknown => {
    switch (f.fieldKind) {
      case "scalar":
        return scalarValue(f.scalar, seed);
      case "enum":
        return lastEnumValue(f);
      case "message":
        return depth > 0 ? fill(f.message, depth - 1) : {};
      case "list":
        if (f.listKind === "scalar")
          return [scalarValue(f.scalar, seed), scalarValue(f.scalar, seed + 1)];
        if (f.listKind === "enum") return [lastEnumValue(f), 0];
        return depth > 0 ? [fill(f.message, depth - 1), fill(f.message, depth - 1)] : [];
      case "map": {
        const value =
          f.mapKind === "scalar"
            ? scalarValue(f.scalar, seed)
            : f.mapKind === "enum"
              ? lastEnumValue(f)
              : {};
        return { "key.one": value, "key two": value };
      }
    }
  };
  desc.fields.forEach((f, i) => {
    if (f.oneof === undefined) init[f.localName] = fieldValue(f, i);
  });
  for (const oneof of desc.oneofs) {
    const f = oneof.fields[oneofChoice % oneof.fields.length];
    if (!f) throw new Error(`oneof ${oneof.name} has no fields`);
    init[oneof.localName] = { case: f.localName, value: fieldValue(f, 7) };
  }
  return init;
}

describe("binary round trip", () => {
  it("the API exports messages to test", () => {
    expect(messages.length).toBeGreaterThan(50);
  });

  for (const desc of messages) {
    const cases = Math.max(1, ...desc.oneofs.map((o) => o.fields.length));
    for (let choice = 0; choice < cases; choice++) {
      it(`${desc.typeName}${cases > 1 ? ` (oneof case ${choice})` : ""}`, () => {
        const message = create(desc, fill(desc, 3, choice) as never);
        // Every field with a value: a round trip of a half-empty message proves little.
        const r = reflect(desc, message);
        for (const f of desc.fields) {
          if (f.oneof === undefined || r.isSet(f)) continue;
          expect(desc.oneofs.length, `${f.name} is in a oneof`).toBeGreaterThan(0);
        }
        for (const f of desc.fields.filter((f) => f.oneof === undefined)) {
          expect(r.isSet(f), `${desc.typeName}.${f.name} is set`).toBe(true);
        }
        const bytes = toBinary(desc, message);
        const decoded = fromBinary(desc, bytes);
        expect(equals(desc, decoded, message)).toBe(true);
        expect(toBinary(desc, decoded)).toEqual(bytes);
        const viaJson = fromJson(desc, toJson(desc, message));
        expect(equals(desc, viaJson, message)).toBe(true);
      });
    }
  }
});
