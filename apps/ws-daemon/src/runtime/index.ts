/** Finding a workspace's container (its root process) through the configured runtime. */
export { DockerApiError, DockerRuntime, type DockerRuntimeOptions } from "./docker-runtime.js";
export { ProcessRuntime } from "./process-runtime.js";
export {
  type RuntimeDiscovery,
  type WorkspaceContainer,
  WorkspaceContainerNotFound,
} from "./runtime-discovery.js";
