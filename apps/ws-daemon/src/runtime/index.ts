/** Finding a workspace's container (its root process) through the configured runtime. */
export { currentCallSignal, withCallSignal } from "./call-scope.js";
export {
  type CriClientOptions,
  type CriConnection,
  CriProtocolError,
  type CriRuntimeClient,
  CriUnavailableError,
  connectCri,
} from "./cri-client.js";
export { pidFromVerboseStatus } from "./cri-container-info.js";
export { CRI_DEFAULTS, CriRuntime, type CriRuntimeOptions } from "./cri-runtime.js";
export { DockerApiError, DockerRuntime, type DockerRuntimeOptions } from "./docker-runtime.js";
export { ProcessRuntime } from "./process-runtime.js";
export {
  type RuntimeDiscovery,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
} from "./runtime-discovery.js";
