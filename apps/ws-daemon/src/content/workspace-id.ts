import { ContentError } from "./content-error.js";
import type { WorkspaceMetadata } from "./workspace-record.js";

/**
 * Ids become directory and file names (`<area>/<id>`, `<area>/.state/<id>.json`) and metadata
 * becomes part of object keys, so both are restricted to a charset that is safe everywhere.
 * A leading dot is refused: dot-names in the working area belong to the daemon (e.g. `.state`),
 * and it also rules out "." and "..".
 */
export const SAFE_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/;

const checkName = (value: unknown, field: string): string => {
  if (typeof value !== "string" || value === "") {
    throw new ContentError("invalid-argument", `${field} is required`);
  }
  if (!SAFE_NAME.test(value)) {
    throw new ContentError(
      "invalid-argument",
      `${field} must be 1-128 characters of [A-Za-z0-9._-] and must not start with ".", got ${JSON.stringify(value.slice(0, 140))}`,
    );
  }
  return value;
};

export const validateWorkspaceId = (id: unknown): string => checkName(id, "id");

export const validateMetadata = (metadata: WorkspaceMetadata | undefined): WorkspaceMetadata => {
  if (!metadata) throw new ContentError("invalid-argument", "metadata is required");
  return {
    owner: checkName(metadata.owner, "metadata.owner"),
    metaId: checkName(metadata.metaId, "metadata.metaId"),
  };
};
