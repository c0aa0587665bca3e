export * from "./docker-runtime.js";
export * from "./process-runtime.js";
export * from "./runtime-discovery.js";
