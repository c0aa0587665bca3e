export { removeFileDurably, writeFileAtomic } from "./atomic-file.js";
export { mkdirOwned, type Owner } from "./owned-mkdir.js";
export {
  claimProcessScratch,
  releaseProcessScratch,
  type ScratchClaim,
  scratchDir,
} from "./process-scratch.js";
export {
  emptyDirectory,
  type RemoveTreeOptions,
  removeChild,
  removeTree,
} from "./remove-tree.js";
export { relativePathSegments, resolveInside } from "./safe-path.js";
export { Trash } from "./trash.js";
export {
  entryCount,
  type MeasureTreeOptions,
  measureTree,
  type TreeMeasure,
} from "./tree-measure.js";
