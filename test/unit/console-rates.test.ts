// The web console's events-per-second counter (server/console/rate-counter.ts): which 5-second
// buckets of the window it asks the broker to count (CountEvents), per domain, and which again as
// the clock moves on. The counting function here answers from a list of recorded times, as the
// broker counts its store (the console's end-to-end test counts with the real RPC). Issue 16.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { BUCKET_MS, COUNT_CALLS_IN_FLIGHT, countDue, RateCounter, SETTLE_MS, WINDOW_MS, type CountEvents } from "../../server/console/rate-counter.js";

// A bucket boundary, so that the offsets below fall where they say.
const NOW = Math.floor(Date.UTC(2026, 10, 29, 7, 0, 0) / BUCKET_MS) * BUCKET_MS;
const BUCKETS = WINDOW_MS / BUCKET_MS;
const PER_EVENT = 1 / (BUCKET_MS / 1000);

/** Events as (domain, recorded ms); counts them as CountEvents would, and records each call. */
function broker() {
  const events: [string, number][] = [];
  const calls: { domains: readonly string[]; fromMs: number; toMs: number }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const count: CountEvents = async (domains, fromMs, toMs) => {
    calls.push({ domains, fromMs, toMs });
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    return events.filter(([d, ms]) => domains.includes(d) && ms >= fromMs && ms < toMs).length;
  };
  return { events, calls, count, maxInFlight: () => maxInFlight };
}

describe("RateCounter and countDue", () => {
  it("counts every bucket of the window by domain; an empty bucket costs one call", async () => {
    const b = broker();
    b.events.push(["social", NOW - 1], ["social", NOW - 2], ["bookstore", NOW - 3], ["social", NOW - WINDOW_MS + BUCKET_MS], ["social", NOW - WINDOW_MS + BUCKET_MS - 1]);
    const c = new RateCounter(["social", "bookstore", "finance"]);
    await countDue(c, b.count, NOW);
    // The window ending at NOW: its current bucket (just started) and the BUCKETS - 1 before it.
    // Two of them hold events: each costs one call for all domains, then one per domain.
    assert.equal(b.calls.length, BUCKETS + 2 * 3);
    assert.ok(b.maxInFlight() <= COUNT_CALLS_IN_FLIGHT, `${b.maxInFlight()} calls in flight`);
    const s = c.series(NOW);
    assert.deepEqual([...s.keys()], ["social", "bookstore", "finance"]);
    const social = s.get("social")!;
    assert.equal(social.length, BUCKETS);
    assert.equal(social.at(-2), 2 * PER_EVENT, "the last full bucket before now");
    assert.equal(social[0], PER_EVENT, "the window's first bucket");
    assert.equal(social.reduce((a, x) => a + x, 0), 3 * PER_EVENT, "the event before the window is not counted");
    assert.equal(s.get("bookstore")!.at(-2), PER_EVENT);
    assert.deepEqual(s.get("finance"), Array(BUCKETS).fill(0));
  });

  it("counts again only the buckets that may still grow, until one was counted SETTLE_MS after its end", async () => {
    const b = broker();
    const c = new RateCounter(["social", "bookstore"]);
    await countDue(c, b.count, NOW);
    // Half a second later: the current bucket, and the one that ended at NOW (not settled yet).
    assert.deepEqual(c.due(NOW + 500), [NOW / BUCKET_MS - 1, NOW / BUCKET_MS]);
    // An event recorded at the end of the last bucket, visible only now, is counted on the next pass.
    b.events.push(["social", NOW - 1]);
    await countDue(c, b.count, NOW + 500);
    assert.equal(c.series(NOW + 500).get("social")!.at(-2), PER_EVENT);
    // A pass SETTLE_MS after its end makes that bucket final: it is never counted again.
    await countDue(c, b.count, NOW + SETTLE_MS);
    assert.deepEqual(c.due(NOW + SETTLE_MS), [NOW / BUCKET_MS]);
    const before = b.calls.length;
    await countDue(c, b.count, NOW + SETTLE_MS + 100);
    assert.deepEqual(
      b.calls.slice(before).map((x) => x.fromMs),
      [NOW],
      "one call, for the current bucket only",
    );
  });

  it("counts a single domain directly, without the call for all domains", async () => {
    const b = broker();
    b.events.push(["social", NOW - 1]);
    const c = new RateCounter(["social"]);
    await countDue(c, b.count, NOW);
    assert.equal(b.calls.length, BUCKETS);
    assert.ok(b.calls.every((x) => x.domains.length === 1 && x.domains[0] === "social"));
    assert.equal(c.series(NOW).get("social")!.at(-2), PER_EVENT);
  });

  it("drops what the window has left behind as the clock moves on, and counts the buckets that came in", async () => {
    const b = broker();
    b.events.push(["social", NOW - 1]);
    const c = new RateCounter(["social"]);
    await countDue(c, b.count, NOW);
    const later = NOW + WINDOW_MS;
    assert.deepEqual(c.series(later).get("social"), Array(BUCKETS).fill(0));
    assert.equal(c.due(later).length, BUCKETS, "a whole new window to count");
  });
});
