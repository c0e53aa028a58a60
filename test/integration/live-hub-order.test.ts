// The live hub's ordering and hole-filling with an injected clock (node:test's mock timers for
// setTimeout/setInterval; the store is the real SQLite store): out-of-order events wait for the
// ones before them, a hole is read from the store only once the gap wait has passed, the head
// poll notices commits the hub was never offered, and every event is emitted once, in order.
// Issue 10 (structure: the hub tested without sleeping).
import { after, afterEach, before, beforeEach, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger } from "../../server/src/logger.js";
import { LiveHub, type LocalEvent } from "../../server/src/log/live-hub.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import type { EventStore } from "../../server/src/store/event-store.js";
import { decodePosition } from "../../server/src/store/position.js";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { LogSink } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";

const GAP_WAIT_MS = 40;
const HEAD_POLL_MS = 1_000;

/** Lets the store's worker thread answer (its messages are not timers, so the mock does not hold them). */
async function settle(until: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5_000 && !until(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(until(), `gave up waiting for ${what}`);
}

describe("live hub with an injected clock", () => {
  let dir: string;
  let store: EventStore;
  let hub: LiveHub;
  let seen: bigint[];
  let head: bigint;

  /** Commits `n` events to the store, without offering them to the hub; returns them as the committer would offer them. */
  async function commit(n: number): Promise<LocalEvent[]> {
    const events = Array.from({ length: n }, () => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 }));
    const [outcome] = await store.append([events]);
    assert.ok(outcome?.ok);
    return events.map((e, i) => {
      const r = outcome.events[i];
      assert.ok(r);
      return { id: e.id, type: e.type, source: e.source, subject: e.subject, correlationId: e.correlationId, position: r.position, recordedUs: r.recordedUs, data: r.data };
    });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "live-hub-"));
    store = await openSqliteStore({ dataDir: dir, sync: "normal", log: createLogger("silent", new LogSink()) });
  });
  after(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async () => {
    mock.timers.enable({ apis: ["setTimeout", "setInterval"] });
    hub = new LiveHub(store, createLogger("silent", new LogSink()), { gapWaitMs: GAP_WAIT_MS, headPollMs: HEAD_POLL_MS });
    await hub.start();
    head = hub.lastSeq;
    seen = [];
    hub.attach((e) => seen.push(e.seq - head));
  });
  afterEach(() => {
    hub.close();
    mock.timers.reset();
  });

  it("holds an event that comes early until the one before it arrives, then emits both in order", async () => {
    const [first, second] = await commit(2);
    hub.offerLocal([second as LocalEvent]);
    mock.timers.tick(GAP_WAIT_MS - 1);
    assert.deepEqual(seen, []);
    hub.offerLocal([first as LocalEvent]);
    assert.deepEqual(seen, [1n, 2n]);
    // The gap timer was cleared: time passing later reads nothing and emits nothing twice.
    mock.timers.tick(GAP_WAIT_MS * 10);
    await settle(() => true, "nothing");
    assert.deepEqual(seen, [1n, 2n]);
  });

  it("reads a hole from the store once the gap wait has passed, and not before", async () => {
    const events = await commit(3);
    hub.offerLocal([events[2] as LocalEvent]);
    mock.timers.tick(GAP_WAIT_MS - 1);
    await settle(() => true, "nothing");
    assert.deepEqual(seen, []);
    mock.timers.tick(1);
    await settle(() => seen.length === 3, "the hole filled from the store");
    assert.deepEqual(seen, [1n, 2n, 3n]);
    // The late copies of events already read from the store are dropped, not emitted again.
    hub.offerLocal(events.slice(0, 2));
    assert.deepEqual(seen, [1n, 2n, 3n]);
  });

  it("notices commits it was never offered on its head poll, after the gap wait", async () => {
    await commit(2);
    mock.timers.tick(HEAD_POLL_MS - 1);
    await settle(() => true, "nothing");
    assert.deepEqual(seen, []);
    mock.timers.tick(1); // the poll reads the head (a worker round trip), then arms the gap timer
    for (let i = 0; i < 5_000 && seen.length < 2; i++) {
      await new Promise((r) => setImmediate(r));
      mock.timers.tick(GAP_WAIT_MS);
    }
    assert.deepEqual(seen, [1n, 2n]);
    assert.equal(hub.lastSeq, decodePosition(await store.headPosition()));
  });
});
