export { type DetectQuotaOptions, detectQuotaEnforcer } from "./detect-quota-enforcer.js";
export { LoopImageQuotaEnforcer, type LoopImageQuotaOptions } from "./loop-image-enforcer.js";
export { NoQuotaEnforcer } from "./no-quota-enforcer.js";
export {
  isQuotaExceededError,
  type PrepareQuotaOptions,
  type QuotaEnforcer,
  QuotaError,
  type QuotaErrorKind,
  type QuotaLog,
  type QuotaMethod,
  type QuotaPhase,
  type QuotaRecoveryReport,
  type QuotaStatus,
  type QuotaUsage,
  type QuotaWorkspaceRef,
} from "./quota-enforcer.js";
export { XfsProjectQuotaEnforcer, type XfsProjectQuotaOptions } from "./xfs-project-enforcer.js";
