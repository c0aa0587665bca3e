import { createHash } from "node:crypto";

/**
 * The gear hash's 256 random 32-bit values. Derived, not random at start: cut points are part of
 * the stored format, so every daemon (and every version) must cut the same bytes the same way or
 * their backups stop deduplicating against each other. Never change the derivation.
 */
export const GEAR_TABLE: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i++) {
    table[i] = createHash("sha256").update(`wsd-gear-v1/${i}`).digest().readInt32BE(0);
  }
  return table;
})();
