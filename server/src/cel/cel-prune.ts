// Decoding only what an expression reads. A stored envelope is ~500 bytes of which a filter reads
// a few fields; protobuf-es decodes every field it knows, which costs more than the expression
// itself. Descriptors that keep only the fields an expression names (and, in full, messages it
// uses as a whole, like a timestamp it compares) let the decoder skip the rest of the bytes.
import { clone, create, createFileRegistry, isFieldSet, type DescFile, type DescMessage, type Registry } from "@bufbuild/protobuf";
import { FieldDescriptorProtoSchema, FileDescriptorProtoSchema, FileDescriptorSetSchema, type DescriptorProto, type FieldDescriptorProto } from "@bufbuild/protobuf/wkt";

/** What an expression reads: fields per message type name, and messages it needs whole. */
export interface ReadSet {
  readonly fields: Map<string, Set<string>>;
  readonly whole: Set<string>;
}

export function emptyReadSet(): ReadSet {
  return { fields: new Map(), whole: new Set() };
}

export function readField(set: ReadSet, message: DescMessage, field: string): void {
  let f = set.fields.get(message.typeName);
  if (!f) set.fields.set(message.typeName, (f = new Set()));
  f.add(field);
}

/** Marks a message, and every message its fields reach, as needed whole. */
export function readWhole(set: ReadSet, message: DescMessage): void {
  if (set.whole.has(message.typeName)) return;
  set.whole.add(message.typeName);
  for (const f of message.fields) if (f.message) readWhole(set, f.message);
}

/** The index of the oneof a field is a member of, or undefined. */
function oneofOf(f: FieldDescriptorProto): number | undefined {
  return isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) ? f.oneofIndex : undefined;
}

function pruneMessage(d: DescriptorProto, prefix: string, set: ReadSet): void {
  const name = `${prefix}${d.name}`;
  // Map entries are decoded whole (key and value) whenever their map field is kept.
  if (!set.whole.has(name) && d.options?.mapEntry !== true) {
    const keep = set.fields.get(name) ?? new Set<string>();
    // A oneof keeps every member when one is read: a member later on the wire replaces an earlier
    // one, so the decoder must see them all to know which is set (and clear the others).
    const oneofs = new Set(d.field.filter((f) => keep.has(f.name)).map(oneofOf));
    oneofs.delete(undefined);
    d.field = d.field.filter((f) => keep.has(f.name) || oneofs.has(oneofOf(f)));
  }
  for (const nested of d.nestedType) pruneMessage(nested, `${name}.`, set);
}

/** A registry of the given files (and their imports) whose messages keep only what `set` reads. */
export function prunedRegistry(files: readonly DescFile[], set: ReadSet): Registry {
  const protos = files.map((f) => {
    const p = clone(FileDescriptorProtoSchema, f.proto);
    const prefix = p.package === "" ? "" : `${p.package}.`;
    // Well-known types stay whole: the evaluator treats them as values (a timestamp, a duration).
    if (!p.package.startsWith("google.protobuf")) for (const m of p.messageType) pruneMessage(m, prefix, set);
    return p;
  });
  return createFileRegistry(create(FileDescriptorSetSchema, { file: protos }));
}
