import { getOption, hasOption, type DescExtension, type DescField, type DescMessage } from "@bufbuild/protobuf";

/** One event type of the catalog, as read from the descriptors. */
export interface CatalogEntry {
  /** The event type string, e.g. `"like.added"`. */
  readonly type: string;
  /** The owning domain, e.g. `"social"`. */
  readonly domain: string;
  /** Current version of the payload schema (>= 1). */
  readonly dataVersion: number;
  /** The payload oneof case as protobuf-es names it, e.g. `"likeAdded"`. */
  readonly caseName: string;
  /** The oneof member in the envelope (proto name `like_added`). */
  readonly field: DescField;
  /** The payload message. */
  readonly schema: DescMessage;
}

/** Thrown when the .proto files break a rule of the catalog; generation and start-up stop on it. */
export class CatalogError extends Error {
  override name = "CatalogError";
}

const TYPE_PATTERN = /^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$/;
const DOMAIN_PATTERN = /^[a-z][a-z0-9_]*$/;

interface EventOptionValue {
  type: string;
  domain: string;
  dataVersion: number;
}

/**
 * Reads the catalog from the envelope's `payload` oneof: each member is a message bound to a type
 * string by the `(qingyu.events.v1.event)` option. This is the only place that knows how the catalog
 * is declared; the build-time plugin, the SDK and the docs script all call it.
 *
 * @throws CatalogError when a member has no binding, a type is malformed or listed twice, or a
 *   member's name is not the type string with "." replaced by "_".
 */
export function readCatalog(envelope: DescMessage, eventOption: DescExtension): CatalogEntry[] {
  const payload = envelope.oneofs.find((o) => o.name === "payload");
  if (!payload) throw new CatalogError(`message '${envelope.typeName}' has no oneof 'payload'`);
  const seen = new Set<string>();
  return payload.fields.map((field) => {
    const schema = field.message;
    if (!schema) throw new CatalogError(`payload member '${field.name}' is not a message`);
    if (!hasOption(schema, eventOption)) {
      throw new CatalogError(`message '${schema.typeName}' has no (qingyu.events.v1.event) option`);
    }
    const opt = getOption(schema, eventOption) as unknown as EventOptionValue;
    checkEntry(field, schema, opt, seen);
    return { type: opt.type, domain: opt.domain, dataVersion: opt.dataVersion, caseName: field.localName, field, schema };
  });
}

function checkEntry(field: DescField, schema: DescMessage, opt: EventOptionValue, seen: Set<string>): void {
  const where = `message '${schema.typeName}'`;
  if (!TYPE_PATTERN.test(opt.type)) throw new CatalogError(`${where}: type '${opt.type}' must look like 'noun.verb'`);
  if (!DOMAIN_PATTERN.test(opt.domain)) throw new CatalogError(`${where}: domain '${opt.domain}' is not a lower-case word`);
  if (opt.dataVersion < 1) throw new CatalogError(`${where}: data_version must be >= 1`);
  if (seen.has(opt.type)) throw new CatalogError(`${where}: type '${opt.type}' is bound twice`);
  seen.add(opt.type);
  const expected = opt.type.replace(".", "_");
  if (field.name !== expected) {
    throw new CatalogError(`payload member '${field.name}' must be named '${expected}' after its type '${opt.type}'`);
  }
}
