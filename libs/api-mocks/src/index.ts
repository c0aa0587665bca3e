export * from "./debug-info.js";
export * from "./gen/index.js";
export * from "./mock-server.js";
export * from "./mock-transport.js";
export type {
  BidiStreamingMock,
  ClientStreamingMock,
  LiveStream,
  MethodInput,
  MethodName,
  MockCall,
  MockErrorOptions,
  RecordedCall,
  RpcNames,
  ServerStreamingMock,
  ServiceMock,
  StreamOptions,
  UnaryMock,
} from "./service-mock.js";
export { createServiceMock } from "./service-mock.js";
