export * from "./clients.js";
export * from "./errors.js";
export * from "./gen/index.js";
export * from "./json.js";
export * from "./retry.js";
export * from "./transport.js";
export * from "./watch.js";
