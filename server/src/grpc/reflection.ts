import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { Server } from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";

function collect(file: DescFile, seen: Map<string, DescFile>): void {
  for (const dep of file.dependencies) collect(dep, seen);
  if (!seen.has(file.name)) seen.set(file.name, file);
}

/**
 * Serves gRPC server reflection (v1 and v1alpha) from the exact protobuf-es file descriptors of the
 * served services and everything they import, so grpcurl and `buf curl` can list and call them.
 */
export function addReflection(server: Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  for (const s of services) collect(s.file, files);
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  // @grpc/reflection reads only `fileDescriptorProtos` of each package-definition entry.
  const definition = Object.fromEntries(services.map((s) => [s.typeName, { fileDescriptorProtos }]));
  new ReflectionService(definition as never, { services: services.map((s) => s.typeName) }).addToServer(server);
}
