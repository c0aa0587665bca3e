import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  type ConnectRouter,
  createServiceImplSpec,
  type MethodImplSpec,
  type ServiceImpl,
} from "@connectrpc/connect";

/** Every method a router was given, by its HTTP path ("/pkg.Service/Method"). */
export type MethodsByPath = ReadonlyMap<string, MethodImplSpec>;

/**
 * Runs `routes` against `router` and also records the services it registers, so the transport
 * can serve the same implementations on its own gRPC path. Only `service()` registrations are
 * recorded; single `rpc()` registrations stay with the router alone.
 */
export function recordServices(
  routes: (router: ConnectRouter) => void,
  router: ConnectRouter,
  into: Map<string, MethodImplSpec>,
): void {
  const recording: ConnectRouter = {
    get handlers() {
      return router.handlers;
    },
    service<T extends DescService>(
      service: T,
      implementation: Partial<ServiceImpl<T>>,
      options?: Parameters<ConnectRouter["service"]>[2],
    ) {
      // per-service options (interceptors, limits) are connect-node's to apply
      if (options === undefined) {
        const spec = createServiceImplSpec(service, implementation);
        for (const method of service.methods) {
          const impl = spec.methods[method.localName];
          if (impl) into.set(methodPath(method), impl);
        }
      }
      router.service(service, implementation, options);
      return recording;
    },
    rpc(method, impl, options) {
      router.rpc(method, impl, options);
      return recording;
    },
  };
  routes(recording);
}

export const methodPath = (method: DescMethod) => `/${method.parent.typeName}/${method.name}`;
