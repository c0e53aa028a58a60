import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import {
  EventSchema,
  EventValidationError,
  LikeAddedSchema,
  NotificationChannel,
  assertValidEvent,
  eventFromBinary,
  eventToBinary,
  newEvent,
  validateEvent,
  type Event,
  type EventType,
  type Violation,
} from "../../sdk/src/index.js";
import { sampleEvent } from "../helpers/sample-events.js";

/** A valid sample of `type`, changed by `mutate` (which gets the payload and the envelope). */
function mutated<T extends EventType>(type: T, mutate: (payload: any, event: Event) => void): Event {
  const event = sampleEvent(type) as unknown as Event;
  mutate(event.payload.value, event);
  return event;
}

function only(violations: Violation[]): Violation {
  assert.equal(violations.length, 1, JSON.stringify(violations));
  return violations[0]!;
}

function assertRule(event: Event, path: string, rule: string): void {
  const v = only(validateEvent(event));
  assert.equal(v.path, path);
  assert.equal(v.rule, rule);
  assert.ok(v.message.includes(`'${path}'`), v.message);
}

describe("validateEvent()", () => {
  it("accepts a valid event of every type", () => {
    assert.deepEqual(validateEvent(sampleEvent("like.added")), []);
    assert.deepEqual(validateEvent(sampleEvent("withdrawal.created")), []);
  });

  describe("envelope", () => {
    it("requires an id, a type and a source", () => {
      const violations = validateEvent(mutated("like.added", (_, e) => Object.assign(e, { id: "", type: "", source: "" })));
      assert.deepEqual(violations.map((v) => [v.path, v.rule]), [["id", "required"], ["type", "required"], ["source", "required"]]);
    });
    it("requires the id to be a lower-case UUIDv7", () => {
      for (const id of ["not-a-uuid", "0190F5A0-8B2C-7D3E-9F40-123456789ABC", "0190f5a0-8b2c-4d3e-9f40-123456789abc"]) {
        assertRule(mutated("like.added", (_, e) => (e.id = id)), "id", "format");
      }
    });
    it("requires a payload, and names an unknown payload field", () => {
      assertRule(mutated("like.added", (_, e) => (e.payload = { case: undefined })), "payload", "oneof.required");
      // A producer built against a newer catalog sends oneof field 999, which this catalog lacks.
      const bytes = eventToBinary(create(EventSchema, { id: "0190f5a0-8b2c-7d3e-9f40-123456789abc", type: "like.added", source: "s" }));
      const unknownCase = new Uint8Array([...bytes, 0xba, 0x3e, 0x00]); // field 999, length-delimited, empty
      const v = only(validateEvent(eventFromBinary(unknownCase)).filter((x) => x.path === "payload"));
      assert.equal(v.rule, "oneof.unknown");
      assert.match(v.message, /999/);
    });
    it("rejects a type that is not in the catalog or does not match the payload", () => {
      assertRule(mutated("like.added", (_, e) => (e.type = "like.exploded")), "type", "event.type_unknown");
      assertRule(mutated("like.added", (_, e) => (e.type = "like.removed")), "type", "event.type_mismatch");
    });
    it("rejects a data_version newer than the catalog's", () => {
      assertRule(mutated("like.added", (_, e) => (e.dataVersion = 2)), "data_version", "event.data_version");
    });
    it("rejects broker-owned fields unless the event is a stored one", () => {
      const e = mutated("like.added", (_, ev) => {
        ev.position = "0000000000000001";
        ev.recordedTime = timestampFromMs(Date.now());
      });
      assert.deepEqual(validateEvent(e).map((v) => v.rule), ["event.broker_field", "event.broker_field"]);
      assert.deepEqual(validateEvent(e, { stored: true }), []);
    });
    it("checks traceparent, metadata keys, values and count, and string lengths", () => {
      assertRule(mutated("like.added", (_, e) => (e.traceparent = "00-00000000000000000000000000000000-00f067aa0ba902b7-01")), "traceparent", "format");
      assertRule(mutated("like.added", (_, e) => (e.metadata = { "bad key": "v" })), 'metadata["bad key"]', "string.pattern");
      assertRule(mutated("like.added", (_, e) => (e.metadata = { k: "x".repeat(1025) })), 'metadata["k"]', "string.max_len");
      const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, "v"]));
      assertRule(mutated("like.added", (_, e) => (e.metadata = many)), "metadata", "items.max");
      assertRule(mutated("like.added", (_, e) => (e.source = "s".repeat(257))), "source", "string.max_len");
    });
    it("counts characters, not UTF-16 units, against max_len", () => {
      // 256 astral characters are 512 UTF-16 units but within source's 256-character limit.
      assert.deepEqual(validateEvent(mutated("like.added", (_, e) => (e.source = "😀".repeat(256)))), []);
      assertRule(mutated("like.added", (_, e) => (e.source = "😀".repeat(257))), "source", "string.max_len");
    });
    it("rejects out-of-range timestamps", () => {
      assertRule(mutated("like.added", (_, e) => (e.time = { ...e.time!, nanos: 1_000_000_000 })), "time", "timestamp.range");
      assertRule(mutated("like.added", (_, e) => (e.time = { ...e.time!, seconds: 253402300800n })), "time", "timestamp.range");
    });
  });

  describe("payload rules", () => {
    it("requires ids and checks their format", () => {
      assertRule(mutated("like.added", (p) => (p.userId = "")), "like_added.user_id", "required");
      assertRule(mutated("like.added", (p) => (p.userId = "has space")), "like_added.user_id", "format");
      assertRule(mutated("like.added", (p) => (p.userId = "x".repeat(129))), "like_added.user_id", "format");
    });
    it("requires enums other than UNSPECIFIED and rejects undeclared values", () => {
      assertRule(mutated("like.added", (p) => (p.targetType = 0)), "like_added.target_type", "required");
      assertRule(mutated("like.added", (p) => (p.targetType = 99)), "like_added.target_type", "enum.defined");
    });
    it("requires money, non-negative amounts, known currencies and one currency per payload", () => {
      assertRule(mutated("book.purchased", (p) => (p.amount = undefined)), "book_purchased.amount", "required");
      assertRule(mutated("book.purchased", (p) => (p.amount.minorUnits = -1n)), "book_purchased.amount.minor_units", "number.gte");
      assertRule(mutated("deposit.created", (p) => (p.amount.currencyCode = "XYZ")), "deposit_created.amount.currency_code", "format");
      assertRule(mutated("deposit.created", (p) => (p.amount.currencyCode = "")), "deposit_created.amount.currency_code", "required");
      assertRule(mutated("book.purchased", (p) => (p.finalAmount.currencyCode = "USD")), "book_purchased.final_amount.currency_code", "money.same_currency");
    });
    it("checks numeric bounds and required numbers", () => {
      assertRule(mutated("reading.progress_updated", (p) => (p.progressPercent = 101)), "reading_progress_updated.progress_percent", "number.lte");
      assertRule(mutated("revenue.earned", (p) => (p.royaltyRateBps = 10_001)), "revenue_earned.royalty_rate_bps", "number.lte");
      assertRule(mutated("vip.purchased", (p) => (p.durationDays = 0)), "vip_purchased.duration_days", "required");
    });
    it("checks patterns and formats of strings", () => {
      assertRule(mutated("settlement.generated", (p) => (p.period = "2026-13")), "settlement_generated.period", "string.pattern");
      assertRule(mutated("withdrawal.created", (p) => (p.bankAccountLast4 = "6222020200112233")), "withdrawal_created.bank_account_last4", "string.pattern");
      assertRule(mutated("user.registered", (p) => (p.email = "not-an-email")), "user_registered.email", "format");
      assertRule(mutated("user.logged_in", (p) => (p.ipAddress = "300.1.1.1")), "user_logged_in.ip_address", "format");
      assertRule(mutated("config.changed", (p) => (p.configKey = "Has Spaces")), "config_changed.config_key", "format");
      assertRule(mutated("comment.created", (p) => (p.content = "x".repeat(10_001))), "comment_created.content", "string.max_len");
    });
    it("accepts an empty optional field whatever its format", () => {
      assert.deepEqual(validateEvent(mutated("user.registered", (p) => (p.email = ""))), []);
      assert.deepEqual(validateEvent(mutated("book.purchased", (p) => (p.discount = undefined))), []);
    });
    it("checks repeated fields: count, unique, and each item", () => {
      assertRule(mutated("notification.sent", (p) => (p.channels = [])), "notification_sent.channels", "items.min");
      const dup = [NotificationChannel.EMAIL, NotificationChannel.EMAIL];
      assertRule(mutated("notification.sent", (p) => (p.channels = dup)), "notification_sent.channels[1]", "items.unique");
      assertRule(mutated("notification.sent", (p) => (p.channels = [NotificationChannel.UNSPECIFIED])), "notification_sent.channels[0]", "required");
      assertRule(mutated("system.maintenance", (p) => (p.affectedServices = [""])), "system_maintenance.affected_services[0]", "required");
    });
    it("checks map keys and values inside payloads", () => {
      assertRule(mutated("security.alert", (p) => (p.details = { "": "v" })), 'security_alert.details[""]', "required");
    });
    it("requires end times after start times", () => {
      assertRule(
        mutated("subscription.created", (p) => (p.endTime = p.startTime)),
        "subscription_created.end_time",
        "timestamp.after",
      );
      assertRule(
        mutated("system.maintenance", (p) => (p.endTime = timestampFromMs(0))),
        "system_maintenance.end_time",
        "timestamp.after",
      );
    });
    it("reports every violation at once", () => {
      const e = mutated("book.purchased", (p, ev) => {
        p.userId = "";
        p.orderId = "";
        ev.source = "";
      });
      assert.deepEqual(validateEvent(e).map((v) => v.path).sort(), ["book_purchased.order_id", "book_purchased.user_id", "source"]);
    });
  });

  describe("assertValidEvent()", () => {
    it("throws an EventValidationError carrying the violations", () => {
      const e = newEvent("like.added", create(LikeAddedSchema, { userId: "u1" }), { source: "s" });
      assert.throws(
        () => assertValidEvent(e),
        (err: unknown) => err instanceof EventValidationError && err.violations.map((v) => v.path).join() === "like_added.target_type,like_added.target_id",
      );
    });
  });
});
