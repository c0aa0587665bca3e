export { freePort, type MotoServer, startMotoServer } from "@ws-daemon/test-support";
