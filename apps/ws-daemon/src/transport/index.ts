export * from "./client-identity.js";
export * from "./interceptors.js";
export * from "./metrics-server.js";
export type { PeerLookup, PeerProcess } from "./peer-identity.js";
export * from "./rpc-server.js";
export * from "./workspace-sockets.js";
