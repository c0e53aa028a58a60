// The release gate's second half (docs/schema-evolution.md): `buf breaking` compares the wire and the
// names against the last released schema (releases/schema.binpb); this compares what buf cannot see,
// the catalog in the (qingyu.events.v1.event) options. Every released type string must still be bound
// to the same payload field and message in the same domain, and no data_version may go down.
// Usage: tsx scripts/check-catalog-compat.ts [released image]   (exit 1 with every violation)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createFileRegistry, fromBinary, type DescExtension, type DescMessage } from "@bufbuild/protobuf";
import { FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import { readCatalog, type CatalogEntry } from "../sdk/src/catalog/read-catalog.js";

const RELEASED = process.argv[2] ?? "releases/schema.binpb";

function catalogOf(bytes: Uint8Array): Map<string, CatalogEntry> {
  // A buf image is a FileDescriptorSet on the wire (its extra fields are ignored here).
  const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, bytes));
  const envelope = registry.getMessage("qingyu.events.v1.Event") as DescMessage;
  const option = registry.getExtension("qingyu.events.v1.event") as DescExtension;
  return new Map(readCatalog(envelope, option).map((e) => [e.type, e]));
}

const released = catalogOf(readFileSync(RELEASED));
const current = catalogOf(execFileSync("npx", ["buf", "build", "--as-file-descriptor-set", "-o", "-"], { maxBuffer: 64 << 20 }));
const problems: string[] = [];
for (const [type, was] of released) {
  const now = current.get(type);
  if (!now) {
    problems.push(`type '${type}' was released and is gone: deprecate it, never remove or rename it`);
    continue;
  }
  if (now.field.number !== was.field.number) problems.push(`type '${type}' moved from payload field ${was.field.number} to ${now.field.number}`);
  if (now.schema.typeName !== was.schema.typeName) problems.push(`type '${type}' is bound to '${now.schema.typeName}', was '${was.schema.typeName}'`);
  if (now.domain !== was.domain) problems.push(`type '${type}' moved from domain '${was.domain}' to '${now.domain}'`);
  if (now.dataVersion < was.dataVersion) problems.push(`type '${type}' data_version went down from ${was.dataVersion} to ${now.dataVersion}`);
}
if (problems.length > 0) {
  console.error(`the catalog breaks the released schema (${RELEASED}):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`catalog compatible with ${RELEASED}: ${released.size} released types kept, ${current.size - released.size} added`);
