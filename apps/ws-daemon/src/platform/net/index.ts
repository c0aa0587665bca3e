export { type AddressClass, classifyAddress } from "./address-class.js";
export { type GuardedFetch, type GuardedFetchOptions, guardedFetch } from "./guarded-fetch.js";
export {
  type CheckedAddress,
  type NetworkPolicy,
  NetworkPolicyError,
  type NetworkPolicyOptions,
  networkPolicy,
  type ResolveHost,
  resolveChecked,
  systemResolve,
} from "./network-policy.js";
