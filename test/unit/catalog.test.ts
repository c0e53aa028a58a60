import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  EventSchema,
  catalogEntry,
  eventCatalog,
  eventDomainOf,
  eventDomains,
  eventSubject,
  eventTypeOf,
  isEventType,
} from "../../sdk/src/index.js";
import { sampleEvent } from "../helpers/sample-events.js";

// The type strings of ../shared/reference/seed-catalog.md §1 (70) plus timeline_event.deleted, by
// domain. The catalog is derived from the .proto files; this list is the independent check.
const EXPECTED: Record<string, string[]> = {
  user: ["user.registered", "user.logged_in", "user.logged_out", "user.updated", "user.deleted"],
  reading: ["reading.chapter_read", "reading.bookmark_added", "reading.note_created", "reading.progress_updated", "reading.book_completed"],
  writer: [
    "character.created", "character.updated", "character.deleted",
    "location.created", "location.updated", "location.deleted",
    "timeline_event.created", "timeline_event.updated", "timeline_event.deleted",
  ],
  social: [
    "like.added", "like.removed", "comment.created", "comment.updated", "comment.deleted", "comment.replied",
    "collection.added", "collection.removed", "follow.added", "follow.removed",
  ],
  bookstore: [
    "book.purchased", "chapter.purchased", "refund.requested", "refund.approved", "refund.rejected",
    "subscription.created", "subscription.renewed", "subscription.expired", "subscription.cancelled",
    "reward.created", "reward.received", "vip.purchased", "vip.activated", "vip.expired",
  ],
  finance: [
    "deposit.created", "deposit.completed", "deposit.failed",
    "withdrawal.created", "withdrawal.approved", "withdrawal.rejected", "withdrawal.completed",
    "settlement.generated", "settlement.paid", "revenue.earned", "revenue.settled",
  ],
  notification: ["notification.created", "notification.sent", "notification.read", "notification.deleted"],
  system: [
    "config.changed", "permission.changed", "role.changed", "review.submitted", "review.approved", "review.rejected",
    "content.published", "content.unpublished", "security.alert", "security.suspicious_activity",
    "security.account_locked", "system.maintenance", "system.error",
  ],
};

describe("event catalog", () => {
  const catalog = eventCatalog();

  it("has 71 unique types, exactly the seed's 70 plus timeline_event.deleted", () => {
    const types = catalog.map((e) => e.type);
    assert.equal(types.length, 71);
    assert.equal(new Set(types).size, 71);
    assert.deepEqual([...types].sort(), Object.values(EXPECTED).flat().sort());
  });

  it("puts each type in its domain", () => {
    assert.deepEqual([...eventDomains()], Object.keys(EXPECTED));
    for (const [domain, types] of Object.entries(EXPECTED)) {
      for (const type of types) assert.equal(catalogEntry(type)?.domain, domain, type);
    }
  });

  it("binds each type to a oneof case named after it and a message of its own", () => {
    const messages = new Set<string>();
    for (const entry of catalog) {
      assert.equal(entry.field.name, entry.type.replace(".", "_"));
      assert.equal(entry.field.oneof?.name, "payload");
      assert.equal(EventSchema.field[entry.caseName as keyof typeof EventSchema.field], entry.field);
      assert.ok(entry.dataVersion >= 1);
      messages.add(entry.schema.typeName);
    }
    assert.equal(messages.size, 71);
    assert.equal(EventSchema.oneofs.find((o) => o.name === "payload")?.fields.length, 71);
  });

  it("derives type, domain and NATS subject of every event from its payload", () => {
    for (const entry of catalog) {
      const event = sampleEvent(entry.type);
      assert.equal(eventTypeOf(event), entry.type);
      assert.equal(eventDomainOf(event), entry.domain);
      assert.equal(eventSubject(event), `events.${entry.domain}.${entry.type}`);
      assert.equal(eventSubject(entry.type, { prefix: "qa.events" }), `qa.events.${entry.domain}.${entry.type}`);
    }
  });

  it("rejects an invalid subject prefix and answers unknown types with undefined", () => {
    assert.throws(() => eventSubject("like.added", { prefix: "bad prefix" }), /invalid subject prefix/);
    assert.throws(() => eventSubject("like.added", { prefix: "events.>" }), /invalid subject prefix/);
    assert.equal(isEventType("like.added"), true);
    assert.equal(isEventType("like.exploded"), false);
    assert.equal(catalogEntry("like.exploded"), undefined);
    assert.equal(eventTypeOf({ payload: { case: undefined } }), undefined);
  });
});
