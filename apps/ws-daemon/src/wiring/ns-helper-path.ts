import { existsSync } from "node:fs";
import * as path from "node:path";
import { defaultNsHelperPath } from "../linux/index.js";

/**
 * The namespace helper: the configured path, $WSD_NSHELPER, native/build beside the bundle
 * (dist/../native/build), or beside the sources (development).
 */
export function nsHelperPath(configured: string | undefined): string {
  if (configured) return path.resolve(configured);
  if (process.env.WSD_NSHELPER) return process.env.WSD_NSHELPER;
  const besideBundle = path.resolve(
    path.dirname(process.argv[1] ?? "."),
    "..",
    "native",
    "build",
    "wsd-nshelper",
  );
  return existsSync(besideBundle) ? besideBundle : defaultNsHelperPath();
}
