export { callScopeInterceptor } from "./call-scope-interceptor.js";
export {
  type ContentServiceOptions,
  type ContentServiceWatch,
  createContentService,
} from "./content-service.js";
export { codeOfKind, errorMappingInterceptor, toConnectError } from "./error-mapping.js";
export {
  applyReadiness,
  createHealthService,
  HealthBoard,
  LIVENESS_SERVICE,
} from "./health-service.js";
export {
  createInWorkspaceService,
  createWorkspaceInfoService,
  defaultInWorkspaceLimits,
  type InWorkspaceContext,
  type InWorkspaceLimits,
  inWorkspaceRoutes,
  type MutatingCallRate,
} from "./in-workspace-service.js";
export { toInitializerSpec } from "./initializer-conversion.js";
export { createReflectionService } from "./reflection-service.js";
export { KeyedTokenBuckets, TokenBucket } from "./token-bucket.js";
