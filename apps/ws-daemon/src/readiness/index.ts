/** Whether this node can take work (runtime answers, working area writable, enough free space). */
export { checkWritable, freeBytes, PROBE_FILE } from "./node-checks.js";
export {
  InsufficientDiskSpaceError,
  READINESS_CHECKS,
  type ReadinessCheck,
  ReadinessMonitor,
  type ReadinessOptions,
  type ReadinessState,
} from "./readiness-monitor.js";
