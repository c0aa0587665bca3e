export * from "./gen/index.js";
export * from "./mock-server.js";
export * from "./mock-transport.js";
export type {
  BidiStreamingMock,
  ClientStreamingMock,
  MockCall,
  MockErrorOptions,
  ServerStreamingMock,
  ServiceMock,
  UnaryMock,
} from "./service-mock.js";
export { createServiceMock } from "./service-mock.js";
