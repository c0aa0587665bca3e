export { createContentHooks } from "./content-hooks.js";
export { nsHelperPath } from "./ns-helper-path.js";
export { runtimeFromConfig } from "./runtime-from-config.js";
export { startStorageJanitor } from "./storage-janitor.js";
