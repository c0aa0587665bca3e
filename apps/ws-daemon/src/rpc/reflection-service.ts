import { create, type DescFile, type DescService, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ServiceImpl } from "@connectrpc/connect";
import {
  type ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "@ws-daemon/api";

/** Every file a service needs, dependencies first, without duplicates. */
function filesOf(services: readonly DescService[]): Map<string, DescFile> {
  const files = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    if (files.has(file.proto.name)) return;
    for (const dep of file.dependencies) visit(dep);
    files.set(file.proto.name, file);
  };
  for (const s of services) visit(s.file);
  return files;
}

function symbolsOf(file: DescFile): string[] {
  const out: string[] = [];
  const messages = (list: DescFile["messages"]) => {
    for (const m of list) {
      out.push(m.typeName);
      for (const f of m.fields) out.push(`${m.typeName}.${f.name}`);
      for (const e of m.nestedEnums) out.push(e.typeName);
      messages(m.nestedMessages);
    }
  };
  messages(file.messages);
  for (const e of file.enums) out.push(e.typeName);
  for (const s of file.services) {
    out.push(s.typeName);
    for (const m of s.methods) out.push(`${s.typeName}.${m.name}`);
  }
  return out;
}

/**
 * grpc.reflection.v1 over the services the server exposes, so grpcurl and similar tools can
 * list and call them without the .proto files.
 */
export function createReflectionService(
  services: readonly DescService[],
): ServiceImpl<typeof ServerReflection> {
  const files = filesOf(services);
  const bySymbol = new Map<string, DescFile>();
  for (const file of files.values())
    for (const symbol of symbolsOf(file)) bySymbol.set(symbol, file);
  const encoded = new Map<string, Uint8Array>();
  for (const [name, file] of files)
    encoded.set(name, toBinary(FileDescriptorProtoSchema, file.proto));

  /** A file and, transitively, what it imports: the client may not have any of them. */
  const withDeps = (file: DescFile): Uint8Array[] => {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.proto.name)) return;
      seen.add(f.proto.name);
      out.push(encoded.get(f.proto.name) ?? toBinary(FileDescriptorProtoSchema, f.proto));
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  };

  const answer = (req: ServerReflectionRequest): ServerReflectionResponse => {
    const base = { validHost: req.host, originalRequest: req };
    const notFound = (what: string) =>
      create(ServerReflectionResponseSchema, {
        ...base,
        messageResponse: {
          case: "errorResponse",
          value: { errorCode: Code.NotFound, errorMessage: `${what} not found` },
        },
      });
    const r = req.messageRequest;
    switch (r.case) {
      case "listServices":
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "listServicesResponse",
            value: { service: services.map((s) => ({ name: s.typeName })) },
          },
        });
      case "fileByFilename": {
        const file = files.get(r.value);
        if (!file) return notFound(`file "${r.value}"`);
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "fileDescriptorResponse",
            value: { fileDescriptorProto: withDeps(file) },
          },
        });
      }
      case "fileContainingSymbol": {
        const file = bySymbol.get(r.value.replace(/^\./, ""));
        if (!file) return notFound(`symbol "${r.value}"`);
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "fileDescriptorResponse",
            value: { fileDescriptorProto: withDeps(file) },
          },
        });
      }
      case "fileContainingExtension":
        return notFound(`extension ${r.value.extensionNumber} of "${r.value.containingType}"`);
      case "allExtensionNumbersOfType": {
        if (!bySymbol.has(r.value)) return notFound(`type "${r.value}"`);
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "allExtensionNumbersResponse",
            value: { baseTypeName: r.value, extensionNumber: [] },
          },
        });
      }
      default:
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: {
            case: "errorResponse",
            value: { errorCode: Code.InvalidArgument, errorMessage: "empty reflection request" },
          },
        });
    }
  };

  return {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield answer(req);
    },
  };
}
