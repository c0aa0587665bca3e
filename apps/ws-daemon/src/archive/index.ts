export * from "./create-archive.js";
export * from "./extract-archive.js";
export * from "./manifest.js";
export * from "./safe-extractor.js";
