import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { repoRoot } from "./repo-paths.js";

/**
 * The node API through @grpc/grpc-js and the .proto files themselves, sharing no code with
 * our SDK: proof that a client generated elsewhere talks to the daemon unchanged.
 */
export interface IndependentContentClient {
  call<T>(method: string, request: Record<string, unknown>): Promise<T>;
  close(): void;
}

export function independentContentClient(
  hostPort: string,
  tls: { ca: string; cert: string; key: string },
): IndependentContentClient {
  const definition = protoLoader.loadSync("wsdaemon/daemon.proto", {
    includeDirs: [`${repoRoot}proto`],
    enums: String,
    longs: String,
    defaults: true,
  });
  const wsdaemon = grpc.loadPackageDefinition(definition).wsdaemon as grpc.GrpcObject;
  const Service = wsdaemon.WorkspaceContentService as grpc.ServiceClientConstructor;
  const client = new Service(
    hostPort,
    grpc.credentials.createSsl(Buffer.from(tls.ca), Buffer.from(tls.key), Buffer.from(tls.cert)),
  );
  return {
    call: <T>(method: string, request: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        const fn = client[method] as (
          req: unknown,
          options: grpc.CallOptions,
          cb: (err: grpc.ServiceError | null, res: T) => void,
        ) => void;
        fn.call(client, request, { deadline: Date.now() + 30_000 }, (err, res) =>
          err ? reject(err) : resolve(res),
        );
      }),
    close: () => client.close(),
  };
}

export { grpc };
