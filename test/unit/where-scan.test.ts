// The in-process `where` scan (the MongoDB store's; SQLite's reader thread runs the same matchRows
// loop): pages read in chunks stop at `limit` matches or `maxScanned` rows, say where they stopped,
// and together give what one pass over every event gives. The plain scan here is a function over an
// array in position order, standing in for the store's own scan (no database needed for the loop).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { eventCatalog, eventToBinary, type Event } from "../../sdk/src/index.js";
import { matchRows } from "../../server/src/cel/cel-match.js";
import type { ScanQuery, StoredEvent, WhereScanQuery } from "../../server/src/store/event-store.js";
import { pastPosition, scanWhereInProcess } from "../../server/src/store/where-scan.js";
import { sampleEvent } from "../helpers/sample-events.js";

const position = (i: number): string => String(i).padStart(8, "0");
const events: StoredEvent[] = eventCatalog().flatMap((c, i) =>
  // 8 a type: more than one chunk of the in-process scan (512 rows).
  ["svc-a", "svc-b", "svc-c", "svc-d", "svc-e", "svc-f", "svc-g", "svc-h"].map((source, j) => {
    const e = sampleEvent(c.type) as Event;
    e.source = source;
    const n = i * 8 + j + 1;
    return { position: position(n), recordedUs: n, data: eventToBinary(e) };
  }),
);

/** A plain scan over `events`, oldest first, after `afterPosition`. */
async function scanPlain(q: ScanQuery): Promise<StoredEvent[]> {
  return events.filter((e) => q.afterPosition === undefined || e.position > q.afterPosition).slice(0, q.limit);
}

describe("scanWhereInProcess()", () => {
  const where = { expression: "event.source == 'svc-b' || event.chapter_purchased.amount.minor_units > 0" };
  const all = matchRows(events, { where, limit: Number.MAX_SAFE_INTEGER });

  it("pages through every match, each page within its limit and scan bound", async () => {
    assert.ok(all.matched > 20 && all.matched < events.length && all.errors > 0, "the expression splits the events and some fail");
    // A limit the first chunk (512 rows) does not reach: the next chunk may only add the rest.
    const past = matchRows(events.slice(0, 512), { where, limit: Number.MAX_SAFE_INTEGER }).matched + 2;
    assert.ok(all.matched > past);
    for (const [limit, maxScanned] of [[7, 1_000], [1_000, 50], [5, 13], [past, 5_000]] as [number, number][]) {
      const found: StoredEvent[] = [];
      let errors = 0;
      let q: WhereScanQuery = { filter: { where }, limit, maxScanned };
      for (let pages = 0; ; pages++) {
        assert.ok(pages < events.length, "the scan ends");
        const page = await scanWhereInProcess(scanPlain, q);
        assert.ok(page.events.length <= limit);
        found.push(...page.events);
        errors += page.errors;
        if (page.done) break;
        q = pastPosition(q, page.scannedTo);
      }
      assert.deepEqual(found.map((e) => e.position), all.rows.map((e) => e.position), `limit ${limit}, maxScanned ${maxScanned}`);
      assert.equal(errors, all.errors);
    }
  });

  it("counts without returning events, and stops at the scan bound with where it got to", async () => {
    const page = await scanWhereInProcess(scanPlain, { filter: { where }, limit: Number.MAX_SAFE_INTEGER, maxScanned: 10, countOnly: true });
    assert.deepEqual(page.events, []);
    assert.equal(page.done, false);
    assert.equal(page.scannedTo, position(10));
    assert.equal(page.matched, matchRows(events.slice(0, 10), { where, limit: 100 }).matched);
  });
});
