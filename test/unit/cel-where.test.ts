// The `where` compiler without I/O: stored bytes are decoded through pruned descriptors (only the
// fields an expression reads), which must give the same verdict as the full event, for every type
// of the catalog; and the bounds (length, cost, nesting) hold.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { eventCatalog, eventToBinary, type Event } from "../../sdk/src/index.js";
import { compileWhere, MAX_WHERE_CHARS, MAX_WHERE_COST, WhereError } from "../../server/src/cel/cel-where.js";
import { sampleEvent } from "../helpers/sample-events.js";

const EXPRESSIONS = [
  "event.source == 'sample-svc' && event.metadata['tenant'] == 'qingyu'",
  "has(event.chapter_purchased) || event.subject.startsWith('book/')",
  "event.chapter_purchased.amount.minor_units > 5 && event.chapter_purchased.amount == event.chapter_purchased.amount",
  "event.time < now && event.recorded_time == event.recorded_time",
  "event.metadata.exists(k, k == 'client_version') && size(event.metadata) == 2",
  "event.system_maintenance.affected_services.exists(s, s.size() > 3) || event.notification_created.channels.size() > 0",
  "dyn(event) == dyn(event) && event.type.endsWith('.added')",
  "[event.like_added.user_id, event.source].exists(x, x == 'sample-svc')",
];

describe("compileWhere()", () => {
  const events: Event[] = eventCatalog().map((c) => sampleEvent(c.type) as Event);
  const now = timestampFromMs(Date.now());

  for (const expression of EXPRESSIONS) {
    it(`gives the same verdict on stored bytes (pruned decoding) as on the event: ${expression}`, () => {
      const p = compileWhere({ expression });
      const verdicts = events.map((e) => p.matches(e, now));
      assert.deepEqual(events.map((e) => p.matchesBytes(eventToBinary(e), now)), verdicts);
      assert.ok(verdicts.includes(true), "some event matches");
    });
  }

  it("binds payload to the one type the filter allows, and decodes it from bytes", () => {
    const p = compileWhere({ expression: "payload.amount.minor_units > 0 && payload.amount.currency_code == 'CNY'", types: ["chapter.purchased"] });
    const e = sampleEvent("chapter.purchased") as Event;
    assert.equal(p.matches(e, now), true);
    assert.equal(p.matchesBytes(eventToBinary(e), now), true);
  });

  it("refuses expressions past the length, cost and nesting bounds, with a position", () => {
    const wrong = (expression: string) => assert.throws(() => compileWhere({ expression }), (err) => err instanceof WhereError && err.line >= 1 && err.column >= 1);
    wrong(`event.source == '${"x".repeat(MAX_WHERE_CHARS)}'`);
    // 64 × 64 × 64 metadata entries at worst: far over the cost bound.
    wrong("event.metadata.all(a, event.metadata.all(b, event.metadata.all(c, a + b + c != '')))");
    wrong(`${"[".repeat(80)}1${"]".repeat(80)} == []`);
    // The parser's own refusals name themselves, not the nesting bound.
    assert.throws(() => compileWhere({ expression: "event.source == '\\ud83d'" }), (err) => err instanceof WhereError && /surrogate/.test(err.message) && !/nests/.test(err.message));
    // Just under: one comprehension over 64 entries.
    assert.ok(64 * 10 < MAX_WHERE_COST);
    compileWhere({ expression: "event.metadata.all(a, a != '')" });
  });
});
