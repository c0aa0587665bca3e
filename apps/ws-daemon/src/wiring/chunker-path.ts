import { accessSync, constants } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { Log } from "../platform/index.js";

/**
 * The native chunker of chunked backups, if there is one: the configured path (which must then
 * be executable), $WSD_CHUNKER, native/build/wsd-chunker beside the bundle (dist/../native/build)
 * or beside the sources (development). Undefined: chunked backups use the JavaScript chunker.
 */
export function chunkerPath(configured: string | undefined): {
  path: string | undefined;
  tried: string[];
} {
  if (configured) return { path: path.resolve(configured), tried: [] };
  const candidates = [
    ...(process.env.WSD_CHUNKER ? [process.env.WSD_CHUNKER] : []),
    path.resolve(path.dirname(process.argv[1] ?? "."), "..", "native", "build", "wsd-chunker"),
    fileURLToPath(new URL("../../native/build/wsd-chunker", import.meta.url)),
  ];
  return { path: candidates.find(isExecutable), tried: candidates };
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The content store's chunker option, logged once at start: which chunker chunked backups use.
 * A configured binary that is not executable is a warning, not a failed start: backups still
 * work through the JavaScript chunker.
 */
export function nativeChunker(
  format: string | undefined,
  configured: string | undefined,
  log: Log,
): { chunkerPath?: string } {
  const found = chunkerPath(configured);
  if (found.path && (configured === undefined || isExecutable(found.path))) {
    if (format === "chunked") log("info", `chunked backups use the native chunker ${found.path}`);
    return { chunkerPath: found.path };
  }
  if (configured !== undefined) {
    log(
      "warn",
      `storage.chunkerPath ${found.path} is not an executable file; chunked backups use the JavaScript chunker (unframed packs)`,
    );
  } else if (format === "chunked") {
    log(
      "info",
      `no native chunker (looked at ${found.tried.join(", ")}); chunked backups use the JavaScript chunker (unframed packs)`,
    );
  }
  return {};
}
