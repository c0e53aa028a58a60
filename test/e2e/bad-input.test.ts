import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { status } from "@grpc/grpc-js";
import { PublishRequestSchema, PublishResponseSchema, PublishStreamResponseSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { HealthCheckRequestSchema, HealthCheckResponseSchema } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { fromBinary } from "@bufbuild/protobuf";
import { eventToBinary, type Event } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { RawClient } from "../helpers/raw-client.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { varint } from "../helpers/varint.js";

const SVC = "/qingyu.broker.v1.EventBrokerService";
const publishBytes = (event: Event) => toBinary(PublishRequestSchema, create(PublishRequestSchema, { event }));
const GARBAGE = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0x0f, 0x08]);

describe("bad input", () => {
  let t: TestBroker;
  let raw: RawClient;
  before(async () => {
    t = await startTestBroker({ BROKER_MAX_MESSAGE_BYTES: String(256 << 10), BROKER_MAX_EVENT_BYTES: String(64 << 10) });
    raw = new RawClient(t.address);
  });
  after(async () => {
    raw.close();
    await t.close();
  });

  async function expect(body: Uint8Array, code: status, reason: string, path = `${SVC}/Publish`) {
    const res = await raw.unary(path, body);
    assert.equal(status[res.code], status[code], res.details);
    assert.equal(res.reason, reason, res.details);
    return res;
  }

  it("answers garbage bytes with INVALID_ARGUMENT on every RPC", async () => {
    for (const method of ["Publish", "PublishBatch", "GetEvent", "QueryEvents", "CountEvents", "ListEventTypes"]) {
      await expect(GARBAGE, status.INVALID_ARGUMENT, "ERROR_REASON_MALFORMED_REQUEST", `${SVC}/${method}`);
    }
    const replay = await raw.stream(`${SVC}/Replay`, [GARBAGE], true);
    assert.equal(replay.code, status.INVALID_ARGUMENT);
    const stream = await raw.stream(`${SVC}/PublishStream`, [GARBAGE]);
    assert.equal(stream.code, status.INVALID_ARGUMENT);
    assert.equal(stream.reason, "ERROR_REASON_MALFORMED_REQUEST");
  });

  it("answers a truncated message with INVALID_ARGUMENT", async () => {
    const bytes = publishBytes(sampleEvent("like.added"));
    await expect(bytes.subarray(0, bytes.length - 7), status.INVALID_ARGUMENT, "ERROR_REASON_MALFORMED_REQUEST");
  });

  it("answers a message above the transport limit with RESOURCE_EXHAUSTED", async () => {
    const res = await raw.unary(`${SVC}/Publish`, new Uint8Array(300 << 10));
    assert.equal(res.code, status.RESOURCE_EXHAUSTED);
  });

  it("answers an event above the event limit with RESOURCE_EXHAUSTED", async () => {
    const e = sampleEvent("like.added");
    e.metadata = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "x".repeat(1024)]));
    await expect(publishBytes(e), status.RESOURCE_EXHAUSTED, "ERROR_REASON_TOO_LARGE");
  });

  it("names the broken field for a missing event, payload, bad id and type mismatch", async () => {
    await expect(toBinary(PublishRequestSchema, create(PublishRequestSchema, {})), status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_REQUEST");
    const cases: [string, (e: Event) => void][] = [
      ["event.payload", (e) => (e.payload = { case: undefined })],
      ["event.id", (e) => (e.id = "evt_1700000000000")],
      ["event.type", (e) => (e.type = "like.removed")],
      ["event.type", (e) => (e.type = "")],
      ["event.position", (e) => (e.position = "0000000000000001")],
    ];
    for (const [field, mutate] of cases) {
      const e: Event = sampleEvent("like.added");
      mutate(e);
      const res = await expect(publishBytes(e), status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_EVENT");
      assert.match(res.details, new RegExp(`'${field.replace(".", "\\.")}`), res.details);
    }
  });

  it("refuses an unknown payload case (a producer on a newer catalog)", async () => {
    const e: Event = sampleEvent("like.added");
    e.payload = { case: undefined };
    const bytes = eventToBinary(e);
    const withUnknownCase = new Uint8Array([...bytes, 0xba, 0x3e, 0x02, 0x0a, 0x00]); // field 999 = {1: ""}
    const body = new Uint8Array([0x0a, ...varint(withUnknownCase.length), ...withUnknownCase]);
    const res = await expect(body, status.INVALID_ARGUMENT, "ERROR_REASON_INVALID_EVENT");
    assert.match(res.details, /unknown to this catalog/);
  });

  it("ignores unknown request fields and keeps unknown envelope fields with the event", async () => {
    const e = sampleEvent("like.added");
    const eventBytes = new Uint8Array([...eventToBinary(e), 0xf8, 0x07, 0x2a]); // envelope field 127 = 42
    const body = new Uint8Array([0x0a, ...varint(eventBytes.length), ...eventBytes, 0xa0, 0x06, 0x01]); // request field 100 = 1
    const res = await expect(body, status.OK, "");
    assert.equal(fromBinary(PublishResponseSchema, res.responses[0] ?? new Uint8Array()).id, e.id);
    const stored = await t.client.getEvent(e.id);
    assert.deepEqual(stored.$unknown?.map((u) => u.no), [127]);
    assert.equal(stored.id, e.id);
    assert.ok(stored.position);
  });

  it("answers each bad event of a PublishStream in its acknowledgement and keeps the stream", async () => {
    const good = sampleEvent("like.added");
    const bad = sampleEvent("like.added");
    bad.id = "nope";
    const res = await raw.stream(`${SVC}/PublishStream`, [publishBytes(bad), publishBytes(good)]);
    assert.equal(res.code, status.OK);
    const acks = res.responses.map((b) => fromBinary(PublishStreamResponseSchema, b));
    assert.equal(acks[0]?.error?.code, status.INVALID_ARGUMENT);
    assert.equal(acks[1]?.error, undefined);
    assert.equal(acks[1]?.id, good.id);
  });

  it("answers an unknown method with UNIMPLEMENTED", async () => {
    const res = await raw.unary(`${SVC}/DropAllEvents`, new Uint8Array());
    assert.equal(res.code, status.UNIMPLEMENTED);
  });

  it("is still serving afterwards", async () => {
    const res = await raw.unary("/grpc.health.v1.Health/Check", toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {})));
    assert.equal(res.code, status.OK);
    assert.equal(fromBinary(HealthCheckResponseSchema, res.responses[0] ?? new Uint8Array()).status, 1);
    await t.client.publish(sampleEvent("follow.added"));
  });
});

