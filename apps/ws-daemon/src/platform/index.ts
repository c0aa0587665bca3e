/**
 * The bottom layer: what every domain may use and what uses none of them (errors, concurrency,
 * logging, child processes, files, the network policy, /proc, time). The architecture test keeps
 * it that way.
 */
export * from "./clock.js";
export * from "./concurrency/index.js";
export * from "./confined-process-runner.js";
export * from "./errors.js";
export * from "./fs/index.js";
export * from "./log.js";
export * from "./net/index.js";
export * from "./proc.js";
export * from "./process.js";
export * from "./untrusted-content-runner.js";
