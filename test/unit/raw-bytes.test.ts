// The server's request decoder keeps the bytes each event arrived as (rawBytesOf), so the broker
// stores an event exactly as the producer encoded it. They are kept on the decoded message itself
// (a non-enumerable symbol property), not in a WeakMap: see sdk/src/grpc/service-definition.ts.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { EventBrokerService, PublishBatchRequestSchema, PublishRequestSchema, type PublishBatchRequest, type PublishRequest } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { grpcServiceDefinition, rawBytesOf } from "../../sdk/src/grpc/service-definition.js";
import { EventSchema, type Event } from "../../sdk/src/index.js";
import { sampleEvent } from "../helpers/sample-events.js";

const definition = grpcServiceDefinition(EventBrokerService, { lenientRequests: true, keepRawOf: [EventSchema] });
const decodePublish = (bytes: Uint8Array) => definition["publish"]?.requestDeserialize(Buffer.from(bytes)) as PublishRequest;
const decodeBatch = (bytes: Uint8Array) => definition["publishBatch"]?.requestDeserialize(Buffer.from(bytes)) as PublishBatchRequest;
/** The kept bytes as a plain Uint8Array (they are a view into the request's Buffer). */
const raw = (event: Event | undefined) => {
  const bytes = event && rawBytesOf(event);
  return bytes && Uint8Array.from(bytes);
};

const like = create(EventSchema, sampleEvent("like.added") as Event);
const other = create(EventSchema, { ...(sampleEvent("like.added") as Event), id: "0190f2b4-7c3a-7000-8000-000000000002" });

describe("raw bytes of decoded events (rawBytesOf)", () => {
  it("keeps each event's bytes as they arrived, unknown fields included", () => {
    // An unknown field (999) a newer producer might send: a re-encode would keep it too, but the
    // bytes must be the very ones sent, field order included.
    const event = new BinaryWriter().raw(toBinary(EventSchema, like)).tag(999, WireType.Varint).uint32(7).finish();
    const req = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(event).finish();
    const decoded = decodePublish(req);
    assert.deepEqual(raw(decoded.event), event);
  });

  it("keeps every event of a batch, each its own bytes", () => {
    const bytes = toBinary(PublishBatchRequestSchema, create(PublishBatchRequestSchema, { events: [like, other] }));
    const decoded = decodeBatch(bytes);
    assert.deepEqual(raw(decoded.events[0]), toBinary(EventSchema, like));
    assert.deepEqual(raw(decoded.events[1]), toBinary(EventSchema, other));
  });

  it("keeps none for an event sent twice in one field (protobuf merges both occurrences)", () => {
    const once = toBinary(EventSchema, like);
    const req = new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(once).tag(1, WireType.LengthDelimited).bytes(toBinary(EventSchema, other)).finish();
    const decoded = decodePublish(req);
    assert.equal(raw(decoded.event), undefined);
    assert.equal(decoded.event?.id, other.id);
  });

  it("is invisible to the message's fields: keys, equality and re-encoding are those of a plain decode", () => {
    const decoded = decodePublish(toBinary(PublishRequestSchema, create(PublishRequestSchema, { event: like })));
    assert.ok(raw(decoded.event));
    assert.deepEqual(Object.keys(decoded.event as Event), Object.keys(like));
    assert.deepStrictEqual(decoded.event, like);
    assert.deepEqual(toBinary(EventSchema, decoded.event as Event), toBinary(EventSchema, like));
  });

  it("has none for a message the decoder did not make", () => {
    assert.equal(rawBytesOf(like), undefined);
    assert.equal(rawBytesOf({}), undefined);
  });
});
