import type { Timestamp } from "@bufbuild/protobuf/wkt";
import type { EventFilter } from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { eventCatalog } from "../../../sdk/src/catalog/catalog.js";
import { clip } from "../clip.js";
import { compileWhere, WhereError } from "../cel/cel-where.js";
import { invalidRequest } from "../errors.js";
import type { StoreFilter } from "../store/event-store.js";

const MAX_VALUES = 100;
const ALL_TYPES: readonly string[] = eventCatalog().map((e) => e.type);
const DOMAIN_OF = new Map<string, string>(eventCatalog().map((e) => [e.type, e.domain]));
const DOMAINS = new Set(DOMAIN_OF.values());

function limitCount(values: readonly string[], field: string): void {
  if (values.length > MAX_VALUES) invalid(field, "items.max", `'${field}' has ${values.length} values, at most ${MAX_VALUES} are allowed`);
}

function invalid(field: string, rule: string, message: string): never {
  throw invalidRequest(field, rule, message);
}

/** Types named by `types` entries: exact type strings or prefix globs ("comment.*", "*"). */
function expandTypes(entries: readonly string[], field: string): Set<string> {
  const out = new Set<string>();
  entries.forEach((entry, i) => {
    const path = `${field}.types[${i}]`;
    if (entry.endsWith("*")) {
      const prefix = entry.slice(0, -1);
      if (prefix.includes("*")) invalid(path, "glob", `'${path}' '${clip(entry)}' may only end with '*'`);
      const hits = ALL_TYPES.filter((t) => t.startsWith(prefix));
      if (hits.length === 0) invalid(path, "glob", `'${path}' '${clip(entry)}' matches no event type`);
      for (const t of hits) out.add(t);
    } else if (DOMAIN_OF.has(entry)) {
      out.add(entry);
    } else {
      invalid(path, "event.type_unknown", `'${path}' '${clip(entry)}' is not an event type of the catalog`);
    }
  });
  return out;
}

/**
 * Compiles a request's filter into exact values the stores index: globs and domains become a list
 * of types (empty when the two exclude each other), subjects an exact value or a prefix.
 * @throws DomainError INVALID_REQUEST naming the bad entry
 */
export function compileFilter(filter: EventFilter | undefined, field = "filter"): StoreFilter {
  if (!filter) return {};
  limitCount(filter.types, `${field}.types`);
  limitCount(filter.domains, `${field}.domains`);
  limitCount(filter.sources, `${field}.sources`);
  let types: Set<string> | undefined = filter.types.length > 0 ? expandTypes(filter.types, field) : undefined;
  if (filter.domains.length > 0) {
    filter.domains.forEach((d, i) => {
      if (!DOMAINS.has(d)) invalid(`${field}.domains[${i}]`, "domain_unknown", `'${field}.domains[${i}]' '${clip(d)}' is not a domain of the catalog`);
    });
    const domains = new Set(filter.domains);
    types = new Set([...(types ?? ALL_TYPES)].filter((t) => domains.has(DOMAIN_OF.get(t) ?? "")));
  }
  filter.sources.forEach((s, i) => {
    if (s === "") invalid(`${field}.sources[${i}]`, "required", `'${field}.sources[${i}]' is empty`);
  });
  const out: { -readonly [K in keyof StoreFilter]: StoreFilter[K] } = {};
  if (types !== undefined && types.size < ALL_TYPES.length) out.types = [...types];
  if (filter.sources.length > 0) out.sources = [...new Set(filter.sources)];
  if (filter.subject !== "") {
    out.subject = filter.subject.endsWith("*") ? { prefix: filter.subject.slice(0, -1) } : { exact: filter.subject };
  }
  if (filter.correlationId !== "") out.correlationId = filter.correlationId;
  if (filter.where !== "") out.where = checkedWhere(filter.where, out.types, `${field}.where`);
  return out;
}

/**
 * A `where` checked against the types the rest of the filter allows, once, when the call starts.
 * @throws DomainError INVALID_REQUEST with the line and column of the mistake
 */
function checkedWhere(expression: string, types: readonly string[] | undefined, field: string): NonNullable<StoreFilter["where"]> {
  const spec = { expression, types };
  try {
    compileWhere(spec);
  } catch (err) {
    if (!(err instanceof WhereError)) throw err;
    const position = { offset: String(err.offset), line: String(err.line), column: String(err.column) };
    throw invalidRequest(field, "cel", `'${field}' ${err.line}:${err.column}: ${err.description}`, position);
  }
  return spec;
}

/** 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z, the range of a valid Timestamp. */
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;

/** A Timestamp in nanoseconds since the epoch (a bigint: the full range does not fit a double). */
function timestampNs(ts: Timestamp, field: string): bigint {
  if (ts.seconds < MIN_SECONDS || ts.seconds > MAX_SECONDS || ts.nanos < 0 || ts.nanos > 999_999_999) {
    invalid(field, "timestamp.range", `'${field}' is not a valid timestamp`);
  }
  return ts.seconds * 1_000_000_000n + BigInt(ts.nanos);
}

/** The first whole microsecond at or after `ns`: recorded times are microseconds. */
function ceilUs(ns: bigint): number {
  const us = ns / 1000n + (ns % 1000n > 0n ? 1n : 0n);
  return Number(us);
}

/**
 * Converts from_time/to_time (inclusive, exclusive) into microsecond bounds on recorded time. Any
 * valid Timestamp is accepted, before 1970 too; a range shorter than a microsecond is valid and
 * may match nothing.
 * @throws DomainError INVALID_REQUEST for an invalid timestamp or to_time not after from_time
 */
export function timeBounds(from: Timestamp | undefined, to: Timestamp | undefined): { fromUs?: number; toUs?: number } {
  const fromNs = from && timestampNs(from, "from_time");
  const toNs = to && timestampNs(to, "to_time");
  if (fromNs !== undefined && toNs !== undefined && toNs <= fromNs) invalid("to_time", "timestamp.after", "'to_time' must be after 'from_time'");
  // recorded >= from  <=>  recordedUs >= ceil(from); recorded < to  <=>  recordedUs < ceil(to).
  return { ...(fromNs === undefined ? {} : { fromUs: ceilUs(fromNs) }), ...(toNs === undefined ? {} : { toUs: ceilUs(toNs) }) };
}
