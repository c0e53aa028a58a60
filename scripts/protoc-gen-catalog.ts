// A protoc plugin run by `buf generate` (see buf.gen.yaml). It turns the catalog declared in the
// .proto files into the type-level map the SDK's builder infers from, so the type strings are
// written once, in the .proto files, and the compiler checks every use of them.
import { createEcmaScriptPlugin, getComments, runNodeJs, type Schema } from "@bufbuild/protoplugin";
import type { DescExtension, DescMessage } from "@bufbuild/protobuf";
import { readCatalog } from "../sdk/src/catalog/read-catalog.js";

const ENVELOPE = "qingyu.events.v1.Event";
const EVENT_OPTION = "qingyu.events.v1.event";

function find<T>(schema: Schema, pick: (file: Schema["allFiles"][number]) => T | undefined, what: string): T {
  for (const file of schema.allFiles) {
    const hit = pick(file);
    if (hit) return hit;
  }
  throw new Error(`protoc-gen-catalog: ${what} not found`);
}

function generateTs(schema: Schema): void {
  const envelope: DescMessage = find(schema, (f) => f.messages.find((m) => m.typeName === ENVELOPE), ENVELOPE);
  const option: DescExtension = find(schema, (f) => f.extensions.find((e) => e.typeName === EVENT_OPTION), EVENT_OPTION);
  const entries = readCatalog(envelope, option);
  const f = schema.generateFile("qingyu/events/v1/event_catalog.ts");
  f.preamble(envelope.file);
  f.print("/**");
  f.print(" * The event catalog at the type level: each event type string mapped to its domain, its");
  f.print(" * payload oneof case and its payload message. Generated from the (qingyu.events.v1.event)");
  f.print(" * options; the runtime catalog is read from the same descriptors.");
  f.print(" */");
  f.print(f.export("interface", "EventCatalogMap"), " {");
  for (const e of entries) {
    const leading = getComments(e.schema).leading?.trim().replace(/\s*\n\s*/g, " ");
    if (leading) f.print("  /** ", leading.replace(/\*\//g, "*\\/"), " */");
    f.print("  ", JSON.stringify(e.type), ": {");
    f.print("    domain: ", JSON.stringify(e.domain), ";");
    f.print("    case: ", JSON.stringify(e.caseName), ";");
    f.print("    payload: ", f.importShape(e.schema), ";");
    f.print("  };");
  }
  f.print("}");
  generateExports(schema, envelope.file.proto.package);
}

// One module listing every message, enum and schema of the events package by name, so the SDK's
// entry can re-export the generated API with an explicit (generated) list instead of export *.
function generateExports(schema: Schema, pkg: string): void {
  const f = schema.generateFile("qingyu/events/v1/exports.ts");
  const files = schema.allFiles.filter((file) => file.proto.package === pkg && file.name !== "qingyu/events/v1/options");
  f.preamble(files[0] ?? schema.files[0]!);
  for (const file of files) {
    // Every file of the package sits in one directory, so a relative re-export needs only the base name.
    const from = `./${file.name.slice(file.name.lastIndexOf("/") + 1)}_pb.js`;
    const values = [...file.enums.flatMap((e) => [e.name, `${e.name}Schema`]), ...file.messages.map((m) => `${m.name}Schema`)];
    f.print("export type { ", file.messages.map((m) => m.name).join(", "), " } from ", f.string(from), ";");
    f.print("export { ", values.join(", "), " } from ", f.string(from), ";");
  }
}

runNodeJs(createEcmaScriptPlugin({ name: "protoc-gen-catalog", version: "v1", generateTs }));
