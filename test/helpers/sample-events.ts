// Builds fully populated, valid sample events for every type of the catalog, by walking the
// payload descriptors and their rules. Tests use it to prove round-trips and validation for all 71
// types without listing 71 payloads by hand.
import { getOption, hasOption, ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { rules as rulesOption, StringFormat, type FieldRules } from "../../sdk/src/gen/qingyu/events/v1/options_pb.js";
import { catalogEntry, newEvent, type EventType, type TypedEvent } from "../../sdk/src/index.js";

const BASE_MS = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

const FORMAT_SAMPLES: Record<StringFormat, string> = {
  [StringFormat.UNSPECIFIED]: "sample text",
  [StringFormat.ENTITY_ID]: "65f1c2a9e4b0a1b2c3d4e5f6",
  [StringFormat.UUID_V7]: "0190f5a0-8b2c-7d3e-9f40-123456789abc",
  [StringFormat.CURRENCY]: "CNY",
  [StringFormat.EMAIL]: "reader@example.com",
  [StringFormat.IP]: "203.0.113.7",
  [StringFormat.TRACEPARENT]: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
  [StringFormat.DOTTED_NAME]: "reader.free_chapters",
};

// Values for the few fields constrained by a pattern rather than a format.
const PATTERN_SAMPLES: Record<string, string> = {
  "^[0-9]{4}$": "1234",
  "^[0-9]{4}-(0[1-9]|1[0-2])$": "2026-01",
  "^[a-zA-Z0-9][a-zA-Z0-9_.-]*$": "tenant",
};

function rulesOf(field: DescField): FieldRules | undefined {
  return hasOption(field, rulesOption) ? getOption(field, rulesOption) : undefined;
}

function sampleString(rules: FieldRules | undefined): string {
  if (rules?.pattern) {
    const sample = PATTERN_SAMPLES[rules.pattern];
    if (sample === undefined) throw new Error(`no sample for pattern ${rules.pattern}`);
    return sample;
  }
  return FORMAT_SAMPLES[rules?.format ?? StringFormat.UNSPECIFIED];
}

function sampleScalar(scalar: ScalarType, rules: FieldRules | undefined, seed: number): unknown {
  switch (scalar) {
    case ScalarType.STRING:
      return sampleString(rules);
    case ScalarType.BOOL:
      return true;
    case ScalarType.BYTES:
      return new Uint8Array([1, 2, 3]);
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return BigInt(Math.min(Number(rules?.lte ?? 1_000_000), 1234 + seed));
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return 1.5;
    default:
      return Math.min(Number(rules?.lte ?? 1_000_000), 42 + seed);
  }
}

function sampleMessage(schema: DescMessage, depth = 0): Record<string, unknown> {
  if (schema.typeName === "google.protobuf.Timestamp") return timestampFromMs(BASE_MS + depth * 86_400_000);
  const init: Record<string, unknown> = {};
  schema.fields.forEach((field, i) => {
    if (field.oneof) return;
    init[field.localName] = sampleField(schema, field, i);
  });
  for (const oneof of schema.oneofs) {
    const first = oneof.fields[0];
    if (first) init[oneof.localName] = { case: first.localName, value: sampleValue(first, rulesOf(first), 0) };
  }
  return init;
}

function sampleValue(field: DescField, rules: FieldRules | undefined, seed: number): unknown {
  if (field.message) return sampleMessage(field.message);
  if (field.enum) return field.enum.values[1]?.number ?? 0;
  return sampleScalar(field.scalar ?? ScalarType.STRING, rules, seed);
}

function sampleField(schema: DescMessage, field: DescField, index: number): unknown {
  const rules = rulesOf(field);
  switch (field.fieldKind) {
    case "list":
      return [sampleValue(field, rules?.items, 0)];
    case "map":
      return { [sampleString(rules?.keys)]: sampleValue(field, rules?.values, 0) };
    case "message":
      // A timestamp that must come after a sibling is placed one day per field index later.
      return field.message.typeName === "google.protobuf.Timestamp" ? sampleMessage(field.message, index) : sampleMessage(field.message);
    default:
      return sampleValue(field, rules, index);
  }
}

/** A fully populated payload init for an event type: every field set, every rule satisfied. */
export function samplePayload(type: EventType): Record<string, unknown> {
  return sampleMessage(catalogEntry(type).schema);
}

/** A fully populated, valid event of a type, envelope attributes included. */
export function sampleEvent<T extends EventType>(type: T): TypedEvent<T> {
  return newEvent(type, samplePayload(type) as never, {
    source: "sample-svc",
    subject: "book/65f1c2a9e4b0a1b2c3d4e5f6",
    correlationId: "order-42",
    causationId: "0190f5a0-8b2c-7d3e-9f40-000000000001",
    traceparent: FORMAT_SAMPLES[StringFormat.TRACEPARENT],
    metadata: { tenant: "qingyu", client_version: "1.2.3" },
  });
}

/** The payload message of an event, whatever its type (for tests that walk the catalog). */
export function payloadOf(event: { payload: { value?: unknown } }): object {
  const value = event.payload.value;
  if (value === undefined) throw new Error("event has no payload");
  return value as object;
}
