export * from "./archive-content-store.js";
export * from "./content-store.js";
export * from "./create-content-store.js";
