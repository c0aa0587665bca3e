import type { DescService } from "@bufbuild/protobuf";
import {
  type ConnectRouter,
  createRouterTransport,
  type Interceptor,
  type Transport,
} from "@connectrpc/connect";
import type { ServiceMock } from "./service-mock.js";

/** Registers every mock on a connect router. */
export function registerMocks(
  router: ConnectRouter,
  mocks: readonly ServiceMock<DescService>[],
): ConnectRouter {
  for (const mock of mocks) router.service(mock.$service, mock.$implementation());
  return router;
}

export interface MockTransportOptions {
  /** Server-side interceptors, e.g. to check headers a client must send. */
  interceptors?: Interceptor[];
}

/**
 * An in-memory transport serving the given mocks: no network, but the real connect router,
 * serialization and error handling, so a client behaves as against a server.
 */
export function createMockTransport(
  mocks: readonly ServiceMock<DescService>[],
  options: MockTransportOptions = {},
): Transport {
  return createRouterTransport((router) => registerMocks(router, mocks), {
    router: { interceptors: options.interceptors ?? [] },
  });
}
