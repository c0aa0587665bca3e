import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

const PROTO_ROOT = fileURLToPath(new URL("../../../../proto", import.meta.url));

/** The node API's service definitions for @grpc/grpc-js, read straight from the .proto files. */
export function loadContentService(): grpc.ServiceClientConstructor {
  const definition = protoLoader.loadSync(["wsdaemon/daemon.proto"], {
    includeDirs: [PROTO_ROOT],
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    wsdaemon: { WorkspaceContentService: grpc.ServiceClientConstructor };
  };
  return loaded.wsdaemon.WorkspaceContentService;
}
