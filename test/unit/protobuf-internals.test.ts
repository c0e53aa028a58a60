import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, ScalarType, toBinary, type DescField } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { PublishBatchRequestSchema, type PublishBatchRequest } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { EventSchema, eventCatalog, type Event } from "../../sdk/src/index.js";
import { PROTOBUF_ES_TESTED, PROTOBUF_ES_VERSION, speedUpDecoding } from "../../server/src/protobuf-internals.js";
import { sampleEvent } from "../helpers/sample-events.js";

/** The outcome of decoding: the message, or the error's message. */
function decode(bytes: Uint8Array): PublishBatchRequest | string {
  try {
    return fromBinary(PublishBatchRequestSchema, bytes);
  } catch (err) {
    return (err as Error).message;
  }
}

/** A PublishBatchRequest holding one event whose `field` (a string) has these raw bytes. */
function withRawString(field: DescField, raw: Uint8Array): Uint8Array {
  const event = new BinaryWriter().tag(field.number, WireType.LengthDelimited).bytes(raw).finish();
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(event).finish();
}

describe("protobuf-es decoding patches (field lookups, short ASCII strings)", () => {
  it("decodes every catalog event, unknown fields and strings of every kind included, exactly as without the patches", () => {
    const events = eventCatalog().map(({ type }) => sampleEvent(type) as Event);
    // Strings at and around the ASCII fast path's bound, non-ASCII ones short and long, empty ones.
    const strings = ["", "a", "x".repeat(32), "x".repeat(33), "é", "ascii then é", "这一章写得真好", "\u007f\u0000", "😀".repeat(10)];
    strings.forEach((text, i) => {
      const e = sampleEvent("comment.created") as Event;
      e.source = text;
      e.subject = text.repeat(2);
      e.correlationId = `${text}${i}`;
      events.push(e);
    });
    // An unknown field (number 99) after the events: kept as unknown, as protobuf-es does.
    const unknown = new BinaryWriter().tag(99, WireType.LengthDelimited).string("not a field").finish();
    const encoded = toBinary(PublishBatchRequestSchema, create(PublishBatchRequestSchema, { events }));
    const bytes = new Uint8Array([...encoded, ...unknown]);
    const before = fromBinary(PublishBatchRequestSchema, bytes);
    // Raw string bytes: invalid UTF-8 short and long, and a length past the end of the buffer.
    const stringField = EventSchema.fields.find((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.STRING) as DescField;
    const raws = [new Uint8Array([0xff]), new Uint8Array([0x61, 0xc3]), new Uint8Array(40).fill(0xfe), new TextEncoder().encode("plain")];
    const oddBefore = raws.map((raw) => decode(withRawString(stringField, raw)));
    const truncated = withRawString(stringField, new TextEncoder().encode("cut short")).subarray(0, 8);
    const truncatedBefore = decode(truncated);

    assert.equal(speedUpDecoding(), PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED), `protobuf-es ${PROTOBUF_ES_VERSION}`);
    assert.equal(speedUpDecoding(), PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED), "a second call changes nothing");

    const after = fromBinary(PublishBatchRequestSchema, bytes);
    assert.ok(equals(PublishBatchRequestSchema, after, before));
    assert.deepEqual(after.$unknown, before.$unknown);
    assert.equal(after.$unknown?.[0]?.no, 99);
    after.events.forEach((e, i) => assert.ok(equals(EventSchema, e, events[i] as Event), events[i]?.type));
    raws.forEach((raw, i) => {
      const a = decode(withRawString(stringField, raw));
      const b = oddBefore[i] as PublishBatchRequest | string;
      if (typeof b === "string") assert.equal(a, b, `raw string ${i}`);
      else assert.ok(typeof a !== "string" && equals(PublishBatchRequestSchema, a, b), `raw string ${i}`);
    });
    assert.equal(typeof truncatedBefore, "string", "a string past the end does not decode");
    assert.equal(decode(truncated), truncatedBefore);
  });

  it("finds each field by its number, and nothing for a number the type does not have", () => {
    speedUpDecoding();
    for (const schema of [EventSchema, PublishBatchRequestSchema, ...eventCatalog().map((c) => c.schema)]) {
      const r = reflect(schema) as unknown as { findNumber(n: number): unknown };
      for (const f of schema.fields) assert.equal(r.findNumber(f.number), f, `${schema.typeName}.${f.name}`);
      assert.equal(r.findNumber(536_870_911), undefined);
    }
  });
});
