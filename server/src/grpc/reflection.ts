import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server, ServerDuplexStream, ServiceDefinition, UntypedServiceImplementation } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import type { Logger } from "pino";
import { presentedBy } from "./call-identity.js";
import type { Admitter } from "../services/handler-context.js";
import { toGrpcStatus } from "./to-status.js";

function collect(file: DescFile, seen: Map<string, DescFile>): void {
  for (const dep of file.dependencies) collect(dep, seen);
  if (!seen.has(file.name)) seen.set(file.name, file);
}

/**
 * Serves gRPC server reflection (v1 and v1alpha) from the exact protobuf-es file descriptors of the
 * served services and everything they import, so grpcurl and `buf curl` can list and call them.
 */
export function addReflection(server: Server, services: readonly DescService[], gate?: { admit: Admitter; log: Logger }): void {
  const files = new Map<string, DescFile>();
  for (const s of services) collect(s.file, files);
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads only `fileDescriptorProtos` of each package-definition entry.
  const definition = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  const target = gate ? gated(server, gate.admit, gate.log) : server;
  new ReflectionService(definition as never, { services: services.map((s) => s.typeName) }).addToServer(target as Server);
}

type BidiHandler = (call: ServerDuplexStream<unknown, unknown>) => void;

/** A server whose added handlers (reflection's bidi streams) run only once the caller is admitted. */
function gated(server: Server, admit: Admitter, log: Logger): Pick<Server, "addService"> {
  return {
    addService(definition: ServiceDefinition, impl: UntypedServiceImplementation) {
      const wrapped: UntypedServiceImplementation = {};
      for (const [name, handler] of Object.entries(impl)) {
        const d = definition[name];
        wrapped[name] = ((call: ServerDuplexStream<unknown, unknown>) =>
          admit(presentedBy(call), d?.path.slice(1) ?? name).then(
            () => (handler as BidiHandler)(call),
            (err: unknown) => call.emit("error", Object.assign(new Error("unauthenticated"), toGrpcStatus(err, log))),
          )) as never;
      }
      server.addService(definition, wrapped);
    },
  };
}
