export { removeFileDurably, writeFileAtomic } from "./atomic-file.js";
export { relativePathSegments, resolveInside } from "./safe-path.js";
export {
  entryCount,
  type MeasureTreeOptions,
  measureTree,
  type TreeMeasure,
} from "./tree-measure.js";
