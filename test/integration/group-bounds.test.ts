// The bounds of a consumer group's runtime, driven by a manual clock (issue 11, items 1-2): a window
// bounded in bytes (an event larger than the bound passes alone), no window without a member, and
// a member that does not write its deliveries out gets none again when their deadlines pass.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary } from "@bufbuild/protobuf";
import { ConsumeResponseSchema, ConsumerGroupSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventToBinary, newEvent, TargetType } from "../../sdk/src/index.js";
import { Member } from "../../server/src/groups/group-runtime.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { MemoryFeed } from "../helpers/memory-feed.js";
import { groupName, startGroupRuntime } from "../helpers/group-runtime.js";
import { openTempStore, type TempStore } from "../helpers/temp-store.js";

const tick = () => new Promise<void>((r) => setImmediate(r));
const ticks = async (n: number) => {
  for (let i = 0; i < n; i++) await tick();
};

/** An event whose encoding is about `bytes` long (its comment text). */
function eventOf(n: number, bytes: number): Uint8Array {
  return eventToBinary(newEvent("comment.created", { userId: `u${n}`, targetType: TargetType.BOOK, targetId: "b", commentId: `c${n}`, content: "x".repeat(Math.max(1, bytes - 200)) }, { source: "s" }));
}

describe("GroupRuntime bounds (manual clock)", () => {
  let temp: TempStore;
  before(async () => (temp = await openTempStore("group-bounds-")));
  after(() => temp.close());

  async function runtimeOver(events: Uint8Array[], windowBytes: number, ackDeadlineSeconds = 1) {
    const clock = new ManualClock();
    const feed = new MemoryFeed(events);
    const group = create(ConsumerGroupSchema, { name: groupName("b"), ackDeadline: { seconds: BigInt(ackDeadlineSeconds) }, retry: { jitter: 0, multiplier: 1, initialDelay: { nanos: 1_000_000 }, maxAttempts: 0 } });
    const runtime = await startGroupRuntime(temp.store, group, feed, clock, { windowBytes });
    return { clock, feed, runtime };
  }

  /** A member that records what it is sent and, when `reads`, writes it out at once. */
  function member(id: string, maxInFlight: number, reads: boolean) {
    const got: { id: string; attempt: number }[] = [];
    const m: Member = new Member(id, maxInFlight, "test", (frame) => {
      const res = fromBinary(ConsumeResponseSchema, frame);
      if (res.kind.case === "delivery") got.push({ id: res.kind.value.deliveryId, attempt: res.kind.value.attempt });
      if (reads) m.queued--;
    });
    return { m, got };
  }

  it("holds no window without a member and reads once one joins", async () => {
    const { feed, runtime } = await runtimeOver(Array.from({ length: 10 }, (_, i) => eventOf(i, 300)), 1 << 20);
    try {
      await ticks(3);
      assert.equal(runtime.roomEvents, 0);
      assert.equal(feed.admitted, 0, "events read with no member to take them");
      const { m, got } = member("a", 100, true);
      runtime.join(m);
      await ticks(3);
      assert.equal(feed.admitted, 10);
      assert.equal(got.length, 10);
    } finally {
      await runtime.close();
    }
  });

  it("stops reading at the byte bound, and lets an event larger than the bound pass alone", async () => {
    const events = [eventOf(0, 4_000), eventOf(1, 4_000), eventOf(2, 4_000), eventOf(3, 20_000), eventOf(4, 1_000)];
    const { feed, runtime } = await runtimeOver(events, 10_000);
    try {
      const { m, got } = member("a", 100, true);
      runtime.join(m);
      await ticks(3);
      // 4 kB + 4 kB + 4 kB passes 10 kB: the third is the last taken.
      assert.equal(feed.admitted, 3);
      assert.ok(runtime.windowBytesUsed >= 10_000 && runtime.windowBytesUsed < 10_000 + 4_100, `${runtime.windowBytesUsed} bytes held`);
      assert.equal(runtime.roomEvents, 0);
      runtime.ack(m, got.map((d) => d.id));
      await ticks(3);
      // The 20 kB event alone is over the bound: taken alone, and nothing after it meanwhile.
      assert.equal(feed.admitted, 4);
      assert.equal(got.length, 4);
      assert.equal(runtime.windowSize, 1);
      runtime.ack(m, [got[3]?.id ?? ""]);
      await ticks(3);
      assert.equal(feed.admitted, 5);
      assert.equal(got.length, 5);
    } finally {
      await runtime.close();
    }
  });

  it("does not deliver again to a member whose deliveries wait unwritten; another member gets them", async () => {
    const { clock, runtime } = await runtimeOver(Array.from({ length: 20 }, (_, i) => eventOf(i, 300)), 1 << 20);
    try {
      const stalled = member("stalled", 4, false);
      runtime.join(stalled.m);
      await ticks(3);
      assert.equal(stalled.got.length, 4);
      // Deadlines pass again and again: the deliveries expire (attempts), none is queued again.
      for (let i = 0; i < 50; i++) {
        clock.advance(100);
        await ticks(2);
      }
      assert.equal(stalled.got.length, 4, "deliveries queued again for a member that does not write them out");
      assert.equal(stalled.m.inFlight.size, 0);
      assert.equal(runtime.demand, 0);
      const reader = member("reader", 100, true);
      runtime.join(reader.m);
      await ticks(3);
      assert.equal(new Set(reader.got.map((d) => d.id.split(".")[0])).size, 20);
      // The four the stalled member never wrote out come again, as later attempts.
      assert.equal(reader.got.filter((d) => d.attempt > 1).length, 4);
    } finally {
      await runtime.close();
    }
  });
});
