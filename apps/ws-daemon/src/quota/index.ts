export { type DetectQuotaOptions, detectQuotaEnforcer } from "./detect-quota-enforcer.js";
export { LoopImageQuotaEnforcer, type LoopImageQuotaOptions } from "./loop-image-enforcer.js";
export { NoQuotaEnforcer } from "./no-quota-enforcer.js";
export type {
  PrepareQuotaOptions,
  QuotaEnforcer,
  QuotaEnforcerOptions,
  QuotaMethod,
  QuotaPhase,
  QuotaRecoveryReport,
  QuotaStatus,
  QuotaUsage,
  QuotaWorkspaceRef,
} from "./quota-enforcer.js";
export { isQuotaExceededError, QuotaError, type QuotaErrorKind } from "./quota-error.js";
export { XfsProjectQuotaEnforcer, type XfsProjectQuotaOptions } from "./xfs-project-enforcer.js";
