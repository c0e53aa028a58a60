// The group runtime's deadlines, attempts and backoff, driven by a manual clock (no sleeping): an
// expired ack deadline is a failed attempt followed by the backoff, so a member that crashes on
// every delivery parks an event only after max_attempts deliveries (issue 10, item 6).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { ConsumeResponseSchema, ConsumerGroupSchema, DeadLetterSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary, newEvent, TargetType } from "../../sdk/src/index.js";
import { MAX_ATTEMPT_ERROR_BYTES, MAX_ATTEMPTS_KEPT, Member } from "../../server/src/groups/group-runtime.js";
import { MemberOutbox } from "../../server/src/groups/member-outbox.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { MemoryFeed } from "../helpers/memory-feed.js";
import { groupName, startGroupRuntime } from "../helpers/group-runtime.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const tick = () => new Promise<void>((r) => setImmediate(r));
const DEADLINE_MS = 1_000;

/** A feed of one event, admitted at start: the runtime's own logic is what is tested. */
const oneEventFeed = () => new MemoryFeed([eventToBinary(newEvent("like.added", { userId: "u", targetType: TargetType.BOOK, targetId: "b" }, { source: "s" }))], true);

describe("GroupRuntime deadlines and attempts (manual clock)", () => {
  let temp: TempStore;
  before(async () => (temp = await openTempStore("group-runtime-")));
  after(() => temp.close());

  async function runtimeWith(retry: { maxAttempts: number }) {
    const clock = new ManualClock();
    const feed = oneEventFeed();
    const group = create(ConsumerGroupSchema, { name: groupName("g"), ackDeadline: { seconds: 1n }, retry: { jitter: 0, multiplier: 2, initialDelay: { nanos: 100_000_000 }, ...retry } });
    const runtime = await startGroupRuntime(temp.store, group, feed, clock);
    const deliveries: { attempt: number; at: number }[] = [];
    /** A member that takes a delivery and crashes: it leaves, and a new one joins. */
    let member: Member;
    const join = () => {
      member = new Member(`m${deliveries.length}`, 1, "test", (frame) => {
        const res = fromBinary(ConsumeResponseSchema, frame);
        if (res.kind.case === "delivery") deliveries.push({ attempt: res.kind.value.attempt, at: clock.now() });
        setImmediate(() => {
          runtime.leave(member);
          join();
        });
      });
      runtime.join(member);
    };
    join();
    await tick();
    await tick();
    return { clock, feed, runtime, deliveries };
  }

  it("counts an expired deadline as an attempt and waits the backoff before delivering again", async () => {
    const { clock, runtime, deliveries } = await runtimeWith({ maxAttempts: 3 });
    try {
      const t0 = clock.now();
      assert.deepEqual(deliveries, [{ attempt: 1, at: t0 }]);
      // The deadline of attempt 1, then 100 ms of backoff.
      clock.advance(DEADLINE_MS + 99);
      await tick();
      assert.equal(deliveries.length, 1, "delivered again before the backoff passed");
      assert.equal(runtime.deadLetters, 0);
      clock.advance(1);
      await tick();
      assert.deepEqual(deliveries.at(-1), { attempt: 2, at: t0 + DEADLINE_MS + 100 });
    } finally {
      await runtime.close();
    }
  });

  it("parks an event of a member that crashes on every delivery only after max_attempts deliveries", async () => {
    const { clock, feed, runtime, deliveries } = await runtimeWith({ maxAttempts: 3 });
    try {
      const t0 = clock.now();
      // Deadline, 100 ms, deadline, 200 ms, deadline: parked at the third deadline.
      const parkedAt = t0 + DEADLINE_MS + 100 + DEADLINE_MS + 200 + DEADLINE_MS;
      for (; clock.now() < parkedAt - 20; await tick()) clock.advance(20);
      assert.equal(runtime.deadLetters, 0, "parked before its last attempt expired");
      clock.advance(20);
      await tick();
      assert.equal(runtime.deadLetters, 1);
      assert.deepEqual(deliveries.map((d) => [d.attempt, d.at - t0]), [[1, 0], [2, 1_100], [3, 2_300]]);
      assert.deepEqual(feed.finishedHow, ["parked"]);
      await runtime.flush();
      const [letter] = await temp.store.kvScan(`dead/${runtime.name}/`);
      assert.ok(letter, "dead letter written");
    } finally {
      await runtime.close();
    }
  });

  it("never parks for attempts with max_attempts 0 (no limit)", async () => {
    const { clock, runtime, deliveries } = await runtimeWith({ maxAttempts: 0 });
    try {
      for (let i = 0; i < 600; i++) {
        clock.advance(20);
        await tick();
      }
      assert.ok(deliveries.length >= 5, `only ${deliveries.length} deliveries`);
      assert.equal(runtime.deadLetters, 0);
    } finally {
      await runtime.close();
    }
  });

  it("keeps a dead letter's history bounded: errors cut, the first and the latest attempts kept", async () => {
    const clock = new ManualClock();
    const group = create(ConsumerGroupSchema, { name: groupName("h"), ackDeadline: { seconds: 1n }, retry: { jitter: 0, maxAttempts: 30 } });
    const runtime = await startGroupRuntime(temp.store, group, oneEventFeed(), clock);
    const huge = "e".repeat(1 << 20);
    // A member that answers every delivery with a nack, no delay, and a megabyte of error text
    // (each delivery counts as written at once, as the Consume handler's outbox does).
    const member: Member = new Member("nacker", 1, "test", (frame) => {
      member.queued--;
      const res = fromBinary(ConsumeResponseSchema, frame);
      if (res.kind.case === "delivery") {
        const id = res.kind.value.deliveryId;
        setImmediate(() => runtime.nack(member, id, 0, huge));
      }
    });
    runtime.join(member);
    try {
      for (let i = 0; i < 200 && runtime.deadLetters === 0; i++) {
        clock.advance(20);
        await tick();
      }
      assert.equal(runtime.deadLetters, 1);
      await runtime.flush();
      const [entry] = await temp.store.kvScan(`dead/${runtime.name}/`);
      assert.ok(entry, "dead letter written");
      const letter = fromBinary(DeadLetterSchema, entry.value);
      assert.equal(letter.attempts.length, MAX_ATTEMPTS_KEPT);
      assert.deepEqual(letter.attempts.map((a) => a.attempt), [1, 2, 3, 4, 5, ...Array.from({ length: 15 }, (_, i) => 16 + i)]);
      for (const a of letter.attempts) assert.ok(Buffer.byteLength(a.error) <= MAX_ATTEMPT_ERROR_BYTES, `an error of ${a.error.length} characters`);
      assert.ok(entry.value.length < 64 << 10, `a dead letter of ${entry.value.length} bytes`);
    } finally {
      runtime.leave(member);
      await runtime.close();
    }
  });

  it("queues nothing more to a member that does not read, and delivers again once it drains its stream", async () => {
    const clock = new ManualClock();
    const like = () => eventToBinary(newEvent("like.added", { userId: "u", targetType: TargetType.BOOK, targetId: "b" }, { source: "s" }));
    const group = create(ConsumerGroupSchema, { name: groupName("s"), ackDeadline: { seconds: 1n }, retry: { jitter: 0, maxAttempts: 0, initialDelay: { nanos: 100_000_000 } } });
    const runtime = await startGroupRuntime(temp.store, group, new MemoryFeed([like(), like()], true), clock);
    let member: Member | undefined;
    const outbox = new MemberOutbox<Uint8Array>(() => member, 10, () => runtime.schedulePump());
    member = new Member("sleeper", 100, "test", (f, current) => outbox.delivery(f, current));
    runtime.join(member);
    try {
      await tick();
      assert.equal(outbox.length, 2);
      // Ten deadlines and backoffs pass; the member never reads.
      for (let i = 0; i < 600; i++) {
        clock.advance(20);
        await tick();
      }
      assert.equal(outbox.length, 2, "expired deliveries were queued again to a member that does not read");
      // It reads: the expired frames are skipped, and the events come again.
      while (outbox.take() !== undefined);
      await tick();
      await tick();
      assert.equal(outbox.length, 2, "nothing delivered after the member drained its stream");
    } finally {
      runtime.leave(member);
      await runtime.close();
    }
  });
});
