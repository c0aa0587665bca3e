export { allowedClientsByService } from "./allowed-clients.js";
export { chunkerPath, nativeChunker } from "./chunker-path.js";
export { allowedHostRanges, contentHostOwner } from "./compat-settings.js";
export { createContentHooks } from "./content-hooks.js";
export { startHealthProbe } from "./health-probe.js";
export { INSECURE_WARNING_INTERVAL_MS, warnWhileInsecure } from "./insecure-listen-warning.js";
export { nsHelperPath } from "./ns-helper-path.js";
export {
  describeMissing,
  helperIsExecutable,
  type MissingTool,
  missingPrerequisites,
} from "./prerequisites.js";
export { type ReadinessWiring, startReadiness } from "./readiness.js";
export { runtimeFromConfig } from "./runtime-from-config.js";
export { startStorageJanitor } from "./storage-janitor.js";
