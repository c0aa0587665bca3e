/**
 * The anchor of `npm run bench:rpc`: a bare @grpc/grpc-js server answering IsWorkspaceExists
 * from a Map, nothing else. Prints its port on stdout.
 */
import * as grpc from "@grpc/grpc-js";
import { loadContentService } from "./grpc-protos.js";

const workspaces = new Map([["ws-bench", true]]);
const service = loadContentService();
const server = new grpc.Server();
server.addService(service.service, {
  isWorkspaceExists(
    call: grpc.ServerUnaryCall<{ id: string }, { exists: boolean }>,
    callback: grpc.sendUnaryData<{ exists: boolean }>,
  ) {
    callback(null, { exists: workspaces.get(call.request.id) ?? false });
  },
});
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stdout.write(`${port}\n`);
});
// a normal exit on SIGTERM, so that `node --cpu-prof` writes its profile
process.on("SIGTERM", () => process.exit(0));
