import { type DescEnum, type DescField, type DescMessage, ScalarType } from "@bufbuild/protobuf";
import fc from "fast-check";

/** Strings a generated request may hold besides random ones: ids that exist, paths, URLs. */
export interface Interesting {
  strings: string[];
}

const INT32 = [0, 1, -1, 2, 1000, 2 ** 31 - 1, -(2 ** 31)];
const UINT32 = [0, 1, 2, 65_534, 65_535, 100_000, 2 ** 32 - 1];
const INT64 = [0n, 1n, -1n, 2n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 32n];
const UINT64 = [0n, 1n, 2n, 2n ** 64n - 1n, 2n ** 32n];

function stringArb(interesting: Interesting): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...interesting.strings) },
    { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
    { weight: 1, arbitrary: fc.string({ unit: "grapheme", maxLength: 40 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(
          fc.constantFrom(...interesting.strings),
          fc.constantFrom("\0", "/..", "/../..", "\n", "%00", "/./"),
        )
        .map(([s, tail]) => s + tail),
    },
    { weight: 1, arbitrary: fc.nat({ max: 70_000 }).map((n) => "a".repeat(n)) },
  );
}

function scalarArb(scalar: ScalarType, interesting: Interesting): fc.Arbitrary<unknown> {
  switch (scalar) {
    case ScalarType.STRING:
      return stringArb(interesting);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.uint8Array({ maxLength: 64 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    case ScalarType.INT32:
    case ScalarType.SINT32:
    case ScalarType.SFIXED32:
      return fc.oneof(fc.constantFrom(...INT32), fc.integer());
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.oneof(fc.constantFrom(...UINT32), fc.nat());
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.oneof(
        fc.constantFrom(...INT64),
        fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      );
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.oneof(fc.constantFrom(...UINT64), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
  }
}

/** Declared values, and numbers no version of the enum declares. */
const enumArb = (e: DescEnum) =>
  fc.oneof(fc.constantFrom(...e.values.map((v) => v.number)), fc.integer({ min: -5, max: 1000 }));

function singularArb(
  field: DescField,
  interesting: Interesting,
  depth: number,
): fc.Arbitrary<unknown> {
  switch (field.fieldKind) {
    case "scalar":
      return scalarArb(field.scalar, interesting);
    case "enum":
      return enumArb(field.enum);
    case "message":
      return messageInitArb(field.message, interesting, depth + 1);
    case "list": {
      const item =
        field.listKind === "scalar"
          ? scalarArb(field.scalar, interesting)
          : field.listKind === "enum"
            ? enumArb(field.enum)
            : messageInitArb(field.message, interesting, depth + 1);
      return fc.array(item, { maxLength: depth > 2 ? 1 : 4 });
    }
    case "map": {
      const value =
        field.mapKind === "scalar"
          ? scalarArb(field.scalar, interesting)
          : field.mapKind === "enum"
            ? enumArb(field.enum)
            : messageInitArb(field.message, interesting, depth + 1);
      return fc.dictionary(stringArb(interesting), value, { maxKeys: 4 });
    }
  }
}

/**
 * Init objects for `create(schema, init)`: every field may be missing or take random, extreme or
 * interesting values; a oneof is unset or any of its cases. Nesting stops after a few levels.
 */
export function messageInitArb(
  schema: DescMessage,
  interesting: Interesting,
  depth = 0,
): fc.Arbitrary<Record<string, unknown>> {
  if (depth > 4) return fc.constant({});
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const member of schema.members) {
    if (member.kind === "oneof") {
      parts[member.localName] = fc.oneof(
        fc.constant(undefined),
        ...member.fields.map((f) =>
          singularArb(f, interesting, depth).map((value) => ({ case: f.localName, value })),
        ),
      );
    } else {
      parts[member.localName] = fc.option(singularArb(member, interesting, depth), {
        nil: undefined,
      });
    }
  }
  return fc
    .record(parts)
    .map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
}
