export { isRoot, notRootReason } from "@ws-daemon/test-support";
