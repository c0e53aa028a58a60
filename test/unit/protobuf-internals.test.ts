import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, equals, fromBinary, toBinary } from "@bufbuild/protobuf";
import { reflect } from "@bufbuild/protobuf/reflect";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { PublishBatchRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { EventSchema, eventCatalog, type Event } from "../../sdk/src/index.js";
import { PROTOBUF_ES_TESTED, PROTOBUF_ES_VERSION, cacheFieldLookups } from "../../server/src/protobuf-internals.js";
import { sampleEvent } from "../helpers/sample-events.js";

describe("protobuf-es field lookups cached per message type", () => {
  it("decodes every catalog event, unknown fields included, exactly as without the patch", () => {
    const events = eventCatalog().map(({ type }) => sampleEvent(type) as Event);
    // An unknown field (number 99) after the events: kept as unknown, as protobuf-es does.
    const unknown = new BinaryWriter().tag(99, WireType.LengthDelimited).string("not a field").finish();
    const encoded = toBinary(PublishBatchRequestSchema, create(PublishBatchRequestSchema, { events }));
    const bytes = new Uint8Array([...encoded, ...unknown]);
    const before = fromBinary(PublishBatchRequestSchema, bytes);

    assert.equal(cacheFieldLookups(), PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED), `protobuf-es ${PROTOBUF_ES_VERSION}`);
    assert.equal(cacheFieldLookups(), PROTOBUF_ES_VERSION.startsWith(PROTOBUF_ES_TESTED), "a second call changes nothing");

    const after = fromBinary(PublishBatchRequestSchema, bytes);
    assert.ok(equals(PublishBatchRequestSchema, after, before));
    assert.deepEqual(after.$unknown, before.$unknown);
    assert.equal(after.$unknown?.[0]?.no, 99);
    after.events.forEach((e, i) => assert.ok(equals(EventSchema, e, events[i] as Event), events[i]?.type));
  });

  it("finds each field by its number, and nothing for a number the type does not have", () => {
    cacheFieldLookups();
    for (const schema of [EventSchema, PublishBatchRequestSchema, ...eventCatalog().map((c) => c.schema)]) {
      const r = reflect(schema) as unknown as { findNumber(n: number): unknown };
      for (const f of schema.fields) assert.equal(r.findNumber(f.number), f, `${schema.typeName}.${f.name}`);
      assert.equal(r.findNumber(536_870_911), undefined);
    }
  });
});
