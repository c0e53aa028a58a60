import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import {
  NotificationChannel,
  NotificationPriority,
  NotificationType,
  PaymentMethod,
  TargetType,
  newEvent,
  validateEvent,
  type Event,
  type EventTypeOf,
  type PayloadOf,
  type TypedEvent,
} from "../../sdk/src/index.js";

describe("newEvent()", () => {
  it("builds a typed, valid envelope and fills id, time and data_version", () => {
    const before = Date.now();
    const e = newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc" });
    assert.equal(e.type, "like.added");
    assert.equal(e.payload.case, "likeAdded");
    assert.equal(e.payload.value.userId, "u1");
    assert.match(e.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
    assert.ok(timestampDate(e.time!).getTime() >= before);
    assert.equal(e.dataVersion, 1);
    assert.deepEqual(validateEvent(e), []);
  });

  it("keeps caller-supplied attributes and issues ids in increasing order", () => {
    const time = new Date("2026-01-02T03:04:05Z");
    const e = newEvent("follow.added", { followerId: "a", followeeId: "b" }, { id: "0190f5a0-8b2c-7d3e-9f40-123456789abc", time, source: "s" });
    assert.equal(e.id, "0190f5a0-8b2c-7d3e-9f40-123456789abc");
    assert.equal(timestampDate(e.time!).toISOString(), time.toISOString());
    const ids = Array.from({ length: 1000 }, () => newEvent("follow.added", {}).id);
    assert.deepEqual([...ids].sort(), ids);
    assert.equal(new Set(ids).size, ids.length);
  });

  it("throws on a type that is not in the catalog", () => {
    // @ts-expect-error: not a type string of the catalog
    assert.throws(() => newEvent("like.exploded", {}), /unknown event type 'like.exploded'/);
  });

  it("narrows the payload on its case", () => {
    const events: Event[] = [
      newEvent("book.purchased", { paymentMethod: PaymentMethod.ALIPAY, finalAmount: { currencyCode: "CNY", minorUnits: 600n } }),
      newEvent("notification.sent", { channels: [NotificationChannel.PUSH] }),
    ];
    const seen: string[] = [];
    for (const e of events) {
      switch (e.payload.case) {
        case "bookPurchased":
          seen.push(`paid ${e.payload.value.finalAmount?.minorUnits}`);
          break;
        case "notificationSent":
          seen.push(`sent on ${e.payload.value.channels.length}`);
          break;
      }
    }
    assert.deepEqual(seen, ["paid 600", "sent on 1"]);
  });
});

// Type-level tests: `npm test` runs tsc over this file, and an `@ts-expect-error` that finds no error
// is itself an error, so each line below proves the compiler rejects the mistake.
export function typeLevelChecks(): void {
  // @ts-expect-error: misspelt payload field
  newEvent("like.added", { userID: "u1" });
  // @ts-expect-error: field of another event type
  newEvent("like.added", { followerId: "u1" });
  // @ts-expect-error: wrong field type (string for an enum)
  newEvent("like.added", { targetType: "book" });
  // @ts-expect-error: money is a message, never a float
  newEvent("book.purchased", { amount: 12.5 });
  // @ts-expect-error: int64 minor units are bigint
  newEvent("book.purchased", { amount: { currencyCode: "CNY", minorUnits: 1250 } });
  // @ts-expect-error: unknown envelope attribute
  newEvent("like.added", {}, { sauce: "social-svc" });

  const created = newEvent("notification.created", {
    type: NotificationType.SYSTEM,
    priority: NotificationPriority.HIGH,
    channels: [NotificationChannel.IN_APP],
  });
  const typed: TypedEvent<"notification.created"> = created;
  const payload: PayloadOf<"notification.created"> = typed.payload.value;
  // @ts-expect-error: the payload of notification.created has no amount
  void payload.amount;
  // @ts-expect-error: a like event is not a notification event
  const wrong: TypedEvent<"notification.created"> = newEvent("like.added", {});
  void wrong;

  const socialType: EventTypeOf<"social"> = "comment.replied";
  // @ts-expect-error: book.purchased belongs to the bookstore domain
  const notSocial: EventTypeOf<"social"> = "book.purchased";
  void socialType;
  void notSocial;
}
