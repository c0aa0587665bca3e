export * from "./ns-helper.js";
export * from "./workspace-linux.js";
