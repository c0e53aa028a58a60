import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { clone } from "@bufbuild/protobuf";
import {
  BrokerError,
  Code,
  ErrorReason,
  EventSchema,
  IdConflictSchema,
  TargetType,
  eventTypeOf,
  newEvent,
  type Event,
} from "../../sdk/src/index.js";
import { connect as http2Connect } from "node:http2";
import { once } from "node:events";
import { coalescing, CONNECTION_RECEIVE_WINDOW, STREAM_RECEIVE_WINDOW } from "../../server/src/grpc/grpc-internals.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";

function like(user: string, attrs: Parameters<typeof newEvent>[2] = {}) {
  return newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, attrs);
}

async function rejects(p: Promise<unknown>, code: Code, reason: ErrorReason): Promise<BrokerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BrokerError, String(err));
    assert.equal(err.code, code, err.message);
    assert.equal(err.reason, reason, err.message);
    return err;
  }
  assert.fail("expected a rejection");
}

describe("BrokerClient publishing", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());

  describe("publish()", () => {
    it("acknowledges with a position and stores the event with broker fields set", async () => {
      const e = sampleEvent("book.purchased");
      const ack = await t.client.publish(e);
      assert.equal(ack.id, e.id);
      assert.match(ack.position, /^[0-9a-f]{16}$/);
      assert.equal(ack.duplicate, false);
      const stored = await t.client.getEvent(e.id);
      assert.equal(stored.position, ack.position);
      assert.ok(stored.recordedTime);
      assert.equal(eventTypeOf(stored), "book.purchased");
      const expected = clone(EventSchema, e);
      expected.position = stored.position;
      expected.recordedTime = stored.recordedTime;
      assert.deepEqual(stored, expected);
    });

    it("is idempotent: the same id again is a duplicate with the same position, stored once", async () => {
      const e = like("dup-user", { source: "social-svc" });
      const first = await t.client.publish(e);
      const again = await t.client.publish(e);
      assert.equal(again.duplicate, true);
      assert.equal(again.position, first.position);
      assert.equal(await t.client.countEvents({ types: ["like.added"], sources: ["social-svc"] }), 1);
    });

    it("rejects the same id with another content as ALREADY_EXISTS, naming the stored position", async () => {
      const e = like("u-conflict");
      const first = await t.client.publish(e);
      const changed = clone(EventSchema, e);
      (changed.payload.value as { targetId: string }).targetId = "b2";
      const err = await rejects(t.client.publish(changed), Code.ALREADY_EXISTS, ErrorReason.ID_CONFLICT);
      assert.equal(err.findDetails(IdConflictSchema)[0]?.existingPosition, first.position);
    });

    it("treats a retry whose metadata map is encoded in another order as the same event", async () => {
      const e = like("u-order", { metadata: { a: "1", b: "2" } });
      const first = await t.client.publish(e);
      const reordered = clone(EventSchema, e);
      reordered.metadata = { b: "2", a: "1" };
      const again = await t.client.publish(reordered);
      assert.equal(again.duplicate, true);
      assert.equal(again.position, first.position);
    });

    it("fills source from the client and time from the recorded time when absent", async () => {
      const e = like("u-fill");
      e.source = "";
      e.time = undefined;
      await t.client.publish(e);
      const stored = await t.client.getEvent(e.id);
      assert.equal(stored.source, "test-svc");
      assert.deepEqual(stored.time, stored.recordedTime);
    });

    it("validates on the broker too when the client does not", async () => {
      const raw = t.newClient({ validate: false });
      const bad = like("");
      const err = await rejects(raw.publish(bad), Code.INVALID_ARGUMENT, ErrorReason.INVALID_EVENT);
      assert.deepEqual(err.violations.map((v) => [v.field, v.rule]), [["event.like_added.user_id", "required"]]);
    });

    it("refuses an event above BROKER_MAX_EVENT_BYTES with RESOURCE_EXHAUSTED", async () => {
      await using small = await startTestBroker({ BROKER_MAX_EVENT_BYTES: "2048" });
      const big = newEvent("comment.created", { userId: "u", targetType: TargetType.BOOK, targetId: "b", commentId: "c", content: "字".repeat(2000) }, { source: "s" });
      await rejects(small.client.publish(big), Code.RESOURCE_EXHAUSTED, ErrorReason.TOO_LARGE);
      assert.equal(await small.client.countEvents(), 0);
    });
  });

  describe("publishBatch()", () => {
    it("stores all events and answers in order", async () => {
      const events = [like("b1"), sampleEvent("follow.added"), sampleEvent("deposit.created")];
      const results = await t.client.publishBatch(events);
      assert.deepEqual(results.map((r) => r.id), events.map((e) => e.id));
      const positions = results.map((r) => r.position);
      assert.deepEqual([...positions].sort(), positions);
    });

    it("is all or nothing: one invalid event stores none", async () => {
      const raw = t.newClient({ validate: false });
      const good = like("atomic-1");
      const bad = like("atomic-2");
      bad.id = "not-a-uuid";
      const err = await rejects(raw.publishBatch([good, bad]), Code.INVALID_ARGUMENT, ErrorReason.INVALID_EVENT);
      assert.equal(err.metadata["index"], "1");
      assert.deepEqual(err.violations.map((v) => v.field), ["events[1].id"]);
      await rejects(t.client.getEvent(good.id), Code.NOT_FOUND, ErrorReason.EVENT_NOT_FOUND);
    });

    it("is all or nothing: one conflicting id stores none", async () => {
      const stored = like("atomic-3");
      await t.client.publish(stored);
      const changed = clone(EventSchema, stored);
      changed.subject = "book/other";
      const fresh = like("atomic-4");
      await rejects(t.client.publishBatch([fresh, changed]), Code.ALREADY_EXISTS, ErrorReason.ID_CONFLICT);
      await rejects(t.client.getEvent(fresh.id), Code.NOT_FOUND, ErrorReason.EVENT_NOT_FOUND);
    });

    it("refuses more than 1,000 events", async () => {
      const events = Array.from({ length: 1001 }, (_, i) => like(`many-${i}`));
      await rejects(t.client.publishBatch(events), Code.RESOURCE_EXHAUSTED, ErrorReason.TOO_LARGE);
    });
  });

  describe("publisher()", () => {
    it("acknowledges thousands of events in order, each durable", async () => {
      const pub = t.client.publisher({ window: 256 });
      const events = Array.from({ length: 3000 }, (_, i) => like(`stream-${i}`, { subject: "book/stream" }));
      const acks = await Promise.all(events.map((e) => pub.publish(e)));
      await pub.close();
      assert.deepEqual(acks.map((a) => a.id), events.map((e) => e.id));
      const positions = acks.map((a) => a.position);
      assert.deepEqual([...positions].sort(), positions);
      assert.equal(new Set(positions).size, 3000);
      assert.equal(await t.client.countEvents({ subject: "book/stream" }), 3000);
    });

    it("writes acknowledgements that queue up together, several gRPC messages per HTTP/2 write", async () => {
      const before = { ...coalescing };
      const pub = t.client.publisher({ window: 2000 });
      const events = Array.from({ length: 2000 }, (_, i) => like(`burst-${i}`, { subject: "book/burst" }));
      const acks = await Promise.all(events.map((e) => pub.publish(e)));
      await pub.close();
      assert.deepEqual(acks.map((a) => a.id), events.map((e) => e.id));
      // Coalescing hooks into grpc-js's call object: if an upgrade changed its shape, this fails
      // rather than the broker silently writing one message at a time.
      assert.equal(coalescing.calls - before.calls, 1, "the stream's writes are coalesced");
      const writes = coalescing.writes - before.writes;
      const messages = coalescing.messages - before.messages;
      assert.ok(writes > 0 && messages > writes, `${messages} messages in ${writes} coalesced writes`);
    });

    it("rejects only the refused event and goes on with the stream", async () => {
      const pub = t.newClient({ validate: false }).publisher();
      const bad = like("");
      const results = await Promise.allSettled([pub.publish(like("s-ok-1")), pub.publish(bad), pub.publish(like("s-ok-2"))]);
      await pub.close();
      assert.deepEqual(results.map((r) => r.status), ["fulfilled", "rejected", "fulfilled"]);
      const err = (results[1] as PromiseRejectedResult).reason as BrokerError;
      assert.equal(err.code, Code.INVALID_ARGUMENT);
      assert.equal(err.reason, ErrorReason.INVALID_EVENT);
    });
  });

  it("lets clients send 256 KiB per stream and 4 MiB per connection before it reads (HTTP/2 windows)", async () => {
    const session = http2Connect(`http://${t.address}`);
    try {
      await once(session, "remoteSettings");
      assert.equal(session.remoteSettings.initialWindowSize, STREAM_RECEIVE_WINDOW);
      // The connection window grows with a WINDOW_UPDATE sent after the settings.
      for (let i = 0; i < 50 && (session.state.remoteWindowSize ?? 0) < CONNECTION_RECEIVE_WINDOW; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(session.state.remoteWindowSize, CONNECTION_RECEIVE_WINDOW);
    } finally {
      session.close();
    }
  });

  describe("getEvent()", () => {
    it("answers NOT_FOUND for an unknown id and INVALID_ARGUMENT for an empty one", async () => {
      await rejects(t.client.getEvent("0190f5a0-8b2c-7d3e-9f40-ffffffffffff"), Code.NOT_FOUND, ErrorReason.EVENT_NOT_FOUND);
      await rejects(t.client.getEvent(""), Code.INVALID_ARGUMENT, ErrorReason.INVALID_REQUEST);
      await rejects(t.client.getEvent("not-a-uuid"), Code.INVALID_ARGUMENT, ErrorReason.INVALID_REQUEST); // issue 12: a malformed id is not a missing event
    });
  });

  it("lists the catalog with subjects", async () => {
    const types = await t.client.listEventTypes();
    assert.equal(types.length, 71);
    const likeAdded = types.find((x) => x.type === "like.added");
    assert.deepEqual([likeAdded?.domain, likeAdded?.messageName, likeAdded?.subject, likeAdded?.dataVersion], ["social", "qingyu.events.v1.LikeAdded", "events.social.like.added", 1]);
  });
});

export type { Event };
