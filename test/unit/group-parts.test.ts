// The parts of a consumer group's runtime that hold no I/O: per-key ordering, read sizes from the
// window's byte room, and a member's outbox.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { OrderingMode } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { ChunkSizer } from "../../server/src/groups/chunk-sizer.js";
import { Member, type Entry } from "../../server/src/groups/group-entry.js";
import { KeyOrder } from "../../server/src/groups/key-order.js";
import { MemberOutbox } from "../../server/src/groups/member-outbox.js";

const entry = (seq: number, subject: string): Entry =>
  ({ seq: BigInt(seq), position: String(seq), data: new Uint8Array(), type: "t", subject, correlationId: "", key: subject, recordedUs: 0, attempts: 0, history: [], state: "ready", redriven: false }) as Entry;

describe("KeyOrder", () => {
  it("keeps one head per key in position order; a redriven older event takes the head", () => {
    const order = new KeyOrder(OrderingMode.SUBJECT);
    const [a5, a7, b6, a3] = [entry(5, "a"), entry(7, "a"), entry(6, "b"), entry(3, "a")];
    assert.equal(order.enqueue(a5), true);
    assert.equal(order.enqueue(a7), false);
    assert.equal(order.enqueue(b6), true);
    assert.equal(order.enqueue(a3), true, "an older event goes before the head");
    assert.equal(order.isHead(a5), false);
    assert.equal(order.remove(a3), 5n, "the next head of the key");
    assert.equal(order.remove(a7), undefined, "not the head: no new head");
    assert.equal(order.remove(a5), undefined);
    assert.equal(order.isHead(b6), true);
  });

  it("without ordering, every event is a head", () => {
    const order = new KeyOrder(OrderingMode.NONE);
    assert.equal(order.keyOf({ subject: "s", correlationId: "c" }), "");
    assert.equal(order.enqueue(entry(2, "")), true);
    assert.equal(order.enqueue(entry(1, "")), true);
    assert.equal(order.remove(entry(1, "")), undefined);
  });
});

describe("ChunkSizer", () => {
  it("reads as many events as the byte room takes by recent sizes, at least one", () => {
    const sizer = new ChunkSizer(256);
    assert.equal(sizer.size(10_000, 8 << 20), 32, "256 KiB assumed before any event is seen");
    sizer.saw(1 << 20);
    assert.equal(sizer.size(10_000, 8 << 20), 8);
    assert.equal(sizer.size(10_000, 100), 1, "an event larger than the room still passes");
    assert.equal(sizer.size(3, 8 << 20), 3, "never more than the window's room in events");
    for (let i = 0; i < 10; i++) sizer.saw(500);
    assert.equal(sizer.size(10_000, 8 << 20), 256, "small events again: up to the most per read");
  });
});

describe("MemberOutbox", () => {
  it("skips deliveries no longer the member's, counting each down once, and ends a member that does not read", () => {
    let overflowed = -1;
    let member: Member | undefined;
    const outbox = new MemberOutbox<string>(() => member, 2, (n) => (overflowed = n));
    member = new Member("m", 4, "test", (f, current) => outbox.delivery(f, current));
    let stillCurrent = false;
    member.queued = 2;
    member.send(new Uint8Array([1]), () => stillCurrent);
    member.send(new Uint8Array([2]), () => true);
    assert.equal(member.busy, 2);
    assert.deepEqual(outbox.take(), new Uint8Array([2]), "the expired delivery is not written");
    assert.equal(member.queued, 0);
    assert.equal(outbox.take(), undefined);
    stillCurrent = true;
    outbox.push("stale-1");
    outbox.push("stale-2");
    assert.equal(overflowed, -1);
    outbox.push("stale-3");
    assert.equal(overflowed, 3, "past the bound of other messages");
    assert.equal(outbox.take(), "stale-1");
  });

  it("tells the group when deliveries left it, written or skipped, so a member that reads again gets more", () => {
    let freed = 0;
    let member: Member | undefined;
    const outbox = new MemberOutbox<string>(() => member, 10, () => undefined, () => freed++);
    member = new Member("m", 4, "test", (f, current) => outbox.delivery(f, current));
    outbox.push("stale");
    member.queued = 2;
    member.send(new Uint8Array([1]), () => false);
    member.send(new Uint8Array([2]), () => false);
    assert.equal(outbox.take(), "stale");
    assert.equal(freed, 0, "a frame that is no delivery frees nothing");
    assert.equal(outbox.take(), undefined, "both deliveries expired while the member did not read");
    assert.equal(freed, 1);
    assert.equal(member.busy, 0);
  });
});
