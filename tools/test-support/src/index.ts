export { isRoot, notRootReason } from "./env.js";
export { type MotoServer, startMotoServer } from "./moto.js";
export { freePort } from "./net.js";
export { createTestPki, type KeyPair, type KeyPairFiles, type TestPki } from "./pki.js";
