// The embedded store's WAL checkpoints (checkpoint-policy.ts): the WAL stays bounded and starts over
// under commits that never pause, a pause checkpoints what is left, and no committed event is lost
// on the way.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import type { CheckpointTiming, NewEvent } from "../../server/src/store/event-store.js";
import { DB_FILE_NAME, openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { ManualClock } from "../helpers/manual-clock.js";
import { sampleEvent } from "../helpers/sample-events.js";

const log = pino({ level: "silent" });
const event = (): NewEvent => prepareEvent(sampleEvent("like.added"), { maxEventBytes: 1 << 20 });
const walBytes = (dir: string): number => {
  try {
    return statSync(join(dir, `${DB_FILE_NAME}-wal`)).size;
  } catch {
    return 0;
  }
};

describe("SQLite store WAL checkpoints", () => {
  it("keeps the WAL bounded, and complete checkpoints happen, while commits never pause", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlite-ckpt-"));
    // Only the size bound can start a checkpoint here: the clock never moves.
    const store = await openSqliteStore({ dataDir: dir, sync: "normal", log, clock: new ManualClock(), checkpoints: { maxWalFrames: 200, quietMs: 60_000, maxIntervalMs: 60_000 } });
    const checkpoints: CheckpointTiming[] = [];
    store.onCheckpoint = (c) => checkpoints.push(c);
    try {
      const ids: string[] = [];
      let largest = 0;
      // Two commits always in flight (as the group committer hands them over): no pause at all.
      const inflight = new Set<Promise<unknown>>();
      for (let i = 0; i < 3_000; i++) {
        const e = event();
        ids.push(e.id);
        const p = store.append([[e]]).then(([o]) => assert.equal(o?.ok, true));
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
        if (inflight.size >= 2) await Promise.race(inflight);
        if (i % 100 === 0) largest = Math.max(largest, walBytes(dir));
      }
      await Promise.all(inflight);
      // Without checkpoints that finish, 3,000 single-event commits write ~28,000 pages (110 MiB)
      // to a WAL that never starts over.
      assert.ok(checkpoints.some((c) => c.complete), "a checkpoint copied the whole WAL");
      assert.ok(largest < 16 * 2 ** 20, `the WAL grew to ${(largest / 2 ** 20).toFixed(1)} MiB`);
      assert.equal(await store.count({ filter: {} }), 3_000);
      for (const id of [ids[0], ids[1_500], ids[2_999]]) assert.ok(await store.get(id as string));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("checkpoints what is left once commits pause for quietMs, in the reader alone when nothing is committed meanwhile", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlite-ckpt-"));
    const clock = new ManualClock();
    const store = await openSqliteStore({ dataDir: dir, sync: "full", log, clock, checkpoints: { maxWalFrames: 1_000_000, quietMs: 100, maxIntervalMs: 60_000 } });
    const done: CheckpointTiming[] = [];
    let finished!: () => void;
    const first = new Promise<void>((r) => (finished = r));
    store.onCheckpoint = (c) => {
      done.push(c);
      finished();
    };
    try {
      for (let i = 0; i < 10; i++) await store.append([[event()]]);
      clock.advance(99);
      assert.equal(done.length, 0, "not before the pause is long enough");
      clock.advance(1);
      await first;
      // Nothing was appended during the reader's pass: it copied the whole WAL, which can start over.
      assert.equal(done[0]?.complete, true);
      assert.ok((done[0]?.walFrames ?? 0) > 0);
      assert.equal(done[0]?.backfilled, done[0]?.walFrames);
      // Nothing new: no further checkpoint, however long the pause.
      clock.advance(10_000);
      await store.count({ filter: {} });
      assert.equal(done.length, 1);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lets a commit through between the chunks of a large expiry, which still removes every expired event", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sqlite-expire-"));
    const store = await openSqliteStore({ dataDir: dir, sync: "normal", log });
    try {
      const old = 30_000;
      for (let done = 0; done < old; done += 3_000) await store.append([Array.from({ length: 3_000 }, event)]);
      await new Promise((r) => setTimeout(r, 5));
      const cutoff = Date.now() * 1000;
      const order: string[] = [];
      const expiring = store.expire(cutoff).then((n) => (order.push("expired"), n));
      const fresh = event();
      // Handed to the writer while the first chunk (of six) is deleted: it is committed right after it.
      const committing = store.append([[fresh]]).then(() => order.push("committed"));
      const [removed] = await Promise.all([expiring, committing]);
      assert.deepEqual(order, ["committed", "expired"]);
      assert.equal(removed, old);
      assert.equal(await store.count({ filter: {} }), 1);
      assert.ok(await store.get(fresh.id));
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
