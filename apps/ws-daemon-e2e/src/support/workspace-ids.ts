import { randomBytes } from "node:crypto";

/** A workspace id unique to this run, so files can run after a crashed run without clashes. */
export function uniqueWorkspaceId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString("hex")}`;
}

export const emptyInitializer = { spec: { case: "empty" as const, value: {} } };
