export { freePort } from "@ws-daemon/test-support";
