#!/usr/bin/env -S npx tsx
/**
 * protoc-gen-wsd: our own protoc plugin. It writes what protoc-gen-es does not:
 *   kind=clients  a typed client factory per service and an index re-exporting every
 *                 generated file (libs/api-ts/src/gen)
 *   kind=mocks    a typed mock factory per service and an index (libs/api-mocks/src/gen)
 * Both index files list every proto file, so a new .proto or service shows up in the
 * packages' public surface without touching hand-written code.
 */
import type { DescFile, DescMethod, DescService } from "@bufbuild/protobuf";
import {
  createEcmaScriptPlugin,
  type GeneratedFile,
  runNodeJs,
  type Schema,
} from "@bufbuild/protoplugin";

interface Options {
  kind: "clients" | "mocks";
  /** Module that holds the protoc-gen-es output, for kind=mocks. */
  apiModule: string;
}

function parseOptions(raw: { key: string; value: string }[]): Options {
  const options: Options = { kind: "clients", apiModule: "@ws-daemon/api" };
  for (const { key, value } of raw) {
    if (key === "kind") {
      if (value !== "clients" && value !== "mocks") {
        throw new Error(`kind must be "clients" or "mocks", got "${value}"`);
      }
      options.kind = value;
    } else if (key === "api_module") {
      options.apiModule = value;
    } else {
      throw new Error(`unknown option "${key}"`);
    }
  }
  return options;
}

const servicesOf = (schema: Schema<Options>): DescService[] =>
  schema.files.flatMap((file) => file.services);

function generateTs(schema: Schema<Options>): void {
  if (schema.options.kind === "clients") {
    for (const file of schema.files) {
      if (file.services.length > 0) generateClientFile(schema, file);
    }
    generateIndex(schema, (file) => [
      `./${file.name}_pb.js`,
      ...(file.services.length > 0 ? [`./${file.name}_client.js`] : []),
    ]);
  } else {
    for (const file of schema.files) {
      if (file.services.length > 0) generateMockFile(schema, file);
    }
    generateIndex(schema, (file) => (file.services.length > 0 ? [`./${file.name}_mock.js`] : []), [
      "./catalogue.js",
    ]);
    generateMockCatalogue(schema);
  }
}

function generateClientFile(schema: Schema<Options>, file: DescFile): void {
  const f = schema.generateFile(`${file.name}_client.ts`);
  f.preamble(file);
  const Client = f.import("Client", "@connectrpc/connect", true);
  const Transport = f.import("Transport", "@connectrpc/connect", true);
  const createClient = f.import("createClient", "@connectrpc/connect");
  for (const service of file.services) {
    const desc = f.importSchema(service);
    f.print(f.jsDoc(`A typed client for ${service.typeName}.`));
    f.print(f.export("type", `${service.name}Client`), " = ", Client, "<typeof ", desc, ">;");
    f.print();
    f.print(f.jsDoc(`Creates a client for ${service.typeName} on the given transport.`));
    f.print(
      f.export("function", `create${service.name}Client`),
      "(transport: ",
      Transport,
      "): ",
      service.name,
      "Client {",
    );
    f.print("  return ", createClient, "(", desc, ", transport);");
    f.print("}");
    f.print();
  }
}

function mockTypeName(method: DescMethod): string {
  switch (method.methodKind) {
    case "unary":
      return "UnaryMock";
    case "server_streaming":
      return "ServerStreamingMock";
    case "client_streaming":
      return "ClientStreamingMock";
    case "bidi_streaming":
      return "BidiStreamingMock";
  }
}

function generateMockFile(schema: Schema<Options>, file: DescFile): void {
  const f = schema.generateFile(`${file.name}_mock.ts`);
  f.preamble(file);
  // protoplugin resolves relative imports against the output root (src/gen), so this names
  // src/service-mock.ts from every generated file, whatever its depth.
  const runtime = "../service-mock.js";
  const ServiceMock = f.import("ServiceMock", runtime, true);
  const createServiceMock = f.import("createServiceMock", runtime);
  for (const service of file.services) {
    const desc = importFromApi(f, schema, service.name);
    f.print(
      f.jsDoc(`A mock of ${service.typeName}: every method can be stubbed and records its calls.`),
    );
    // The second type argument names each method as the .proto does, for `$calls()`.
    f.print(f.export("interface", `${service.name}Mock`), " extends ", ServiceMock, "<");
    f.print("  typeof ", desc, ",");
    f.print("  {");
    for (const method of service.methods) {
      f.print("    readonly ", method.localName, ": ", JSON.stringify(method.name), ";");
    }
    f.print("  }");
    f.print("> {");
    for (const method of service.methods) {
      const mock = f.import(mockTypeName(method), runtime, true);
      const input = importFromApi(f, schema, `${method.input.name}Schema`);
      const output = importFromApi(f, schema, `${method.output.name}Schema`);
      f.print(f.jsDoc(`Mock of rpc ${service.typeName}.${method.name}.`, "  "));
      f.print(
        "  readonly ",
        method.localName,
        ": ",
        mock,
        "<typeof ",
        input,
        ", typeof ",
        output,
        ">;",
      );
    }
    f.print("}");
    f.print();
    f.print(
      f.jsDoc(
        `Creates a mock of ${service.typeName} answering every call with an empty (default) response.`,
      ),
    );
    f.print(f.export("function", `create${service.name}Mock`), "(): ", service.name, "Mock {");
    f.print("  return ", createServiceMock, "(", desc, ") as ", service.name, "Mock;");
    f.print("}");
    f.print();
  }
}

/**
 * Mocks import generated descriptors from the published SDK package, not from a copy, so a
 * mock and a client built from @ws-daemon/api share one descriptor identity.
 */
function importFromApi(f: GeneratedFile, schema: Schema<Options>, name: string) {
  return f.import(name, schema.options.apiModule);
}

function generateIndex(
  schema: Schema<Options>,
  modulesOf: (file: DescFile) => string[],
  extraModules: string[] = [],
): void {
  const f = schema.generateFile("index.ts");
  f.print("// @generated by protoc-gen-wsd: re-exports every generated file.");
  f.print();
  const files = [...schema.files].sort((a, b) => a.name.localeCompare(b.name));
  for (const file of files) {
    for (const module of modulesOf(file)) f.print(`export * from "${module}";`);
  }
  for (const module of extraModules) f.print(`export * from "${module}";`);
}

function generateMockCatalogue(schema: Schema<Options>): void {
  const services = servicesOf(schema).sort((a, b) => a.typeName.localeCompare(b.typeName));
  const f = schema.generateFile("catalogue.ts");
  f.print("// @generated by protoc-gen-wsd: one entry per service with a mock factory.");
  f.print();
  f.print(
    f.jsDoc("Every service of the API with its mock factory, keyed by the full service name."),
  );
  f.print(f.export("const", "mockFactories"), " = {");
  for (const service of services) {
    const factory = f.import(`create${service.name}Mock`, `./${service.file.name}_mock.js`);
    f.print(`  "${service.typeName}": `, factory, ",");
  }
  f.print("} as const;");
}

runNodeJs(
  createEcmaScriptPlugin({
    name: "protoc-gen-wsd",
    version: "v0.1.0",
    parseOptions,
    generateTs,
  }),
);
