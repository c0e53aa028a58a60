// One contract, every store: the embedded SQLite store always, MongoDB whenever a URL is given
// (TEST_MONGODB_URL or BROKER_MONGODB_URL; it must be a replica set, e.g. `mongod --replSet rs0`).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { MongoClient } from "mongodb";
import { eventFromBinary, newEventId, type EventType } from "../../sdk/src/index.js";
import type { EventStore, GroupOutcome, NewEvent, StoredEvent } from "../../server/src/store/event-store.js";
import { openSqliteStore } from "../../server/src/store/sqlite/sqlite-store.js";
import { openMongoStore } from "../../server/src/store/mongo/mongo-open.js";
import { prepareEvent } from "../../server/src/services/prepare-event.js";
import { DomainError } from "../../server/src/errors.js";
import { ErrorReason } from "../../sdk/src/index.js";
import { sampleEvent } from "../helpers/sample-events.js";

const log = pino({ level: "silent" });
const LIMITS = { maxEventBytes: 1 << 20 };

interface Backend {
  name: string;
  /** Opens a store on the backend's shared storage (a second call = another broker replica). */
  open(): Promise<EventStore>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const dir = mkdtempSync(join(tmpdir(), "store-contract-"));
  return {
    name: "sqlite",
    open: () => openSqliteStore({ dataDir: dir, sync: "normal", log }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function mongoBackend(url: string): Backend {
  const database = `broker_test_${randomUUID().replace(/-/g, "")}`;
  return {
    name: "mongodb",
    open: () => openMongoStore({ url, database, writeConcern: "majority", retentionMs: 86_400_000, log }),
    cleanup: async () => {
      const client = new MongoClient(url);
      try {
        await client.db(database).dropDatabase();
      } finally {
        await client.close();
      }
    },
  };
}

let seq = 0;
function newEvent(type: EventType = "like.added", attrs: { subject?: string; source?: string; correlationId?: string; noTime?: boolean } = {}): NewEvent {
  const e = sampleEvent(type);
  e.id = newEventId();
  e.source = attrs.source ?? "contract-svc";
  e.subject = attrs.subject ?? `book/${++seq}`;
  e.correlationId = attrs.correlationId ?? "";
  if (attrs.noTime) e.time = undefined;
  return prepareEvent(e, LIMITS);
}

/** The position right after `position` (an exclusive upper bound that includes it). */
function nextPosition(position: string): string {
  return (BigInt(`0x${position}`) + 1n).toString(16).padStart(16, "0");
}

async function appendOne(store: EventStore, e: NewEvent) {
  const [outcome] = await store.append([[e]]);
  assert.ok(outcome?.ok, "append failed");
  return outcome.events[0]!;
}

const mongoUrl = process.env["TEST_MONGODB_URL"] ?? process.env["BROKER_MONGODB_URL"];
const backends = [sqliteBackend, ...(mongoUrl ? [() => mongoBackend(mongoUrl)] : [])];
if (!mongoUrl) console.log("# MongoDB store contract skipped: set TEST_MONGODB_URL to a replica set to run it");

for (const makeBackend of backends) {
  const backend = makeBackend();
  describe(`EventStore contract (${backend.name})`, () => {
    let store: EventStore;
    before(async () => (store = await backend.open()));
    after(async () => {
      await store.close();
      await backend.cleanup();
    });

    it("assigns increasing positions and never-decreasing recorded times", async () => {
      const a = await appendOne(store, newEvent());
      const b = await appendOne(store, newEvent());
      assert.ok(b.position > a.position);
      assert.ok(b.recordedUs >= a.recordedUs);
      assert.equal(await store.headPosition(), b.position);
    });

    it("stores the envelope with recorded_time and position, and time when it was absent", async () => {
      const e = newEvent("book.purchased", { noTime: true });
      const a = await appendOne(store, e);
      const stored = eventFromBinary((await store.get(e.id))!.data);
      assert.equal(stored.position, a.position);
      assert.ok(stored.recordedTime);
      assert.deepEqual(stored.time, stored.recordedTime);
      assert.equal(stored.type, "book.purchased");
      assert.deepEqual(eventFromBinary(a.data), stored);
    });

    it("deduplicates an id with the same content, stored once", async () => {
      const e = newEvent();
      const first = await appendOne(store, e);
      const again = await appendOne(store, { ...e, bytes: new Uint8Array(e.bytes) });
      assert.equal(again.duplicate, true);
      assert.equal(again.position, first.position);
      assert.equal(await store.count({ filter: { subject: { exact: e.subject } } }), 1);
    });

    it("refuses an id with another content, writing nothing of that group", async () => {
      const e = newEvent();
      const first = await appendOne(store, e);
      const other = newEvent();
      const changed = { ...newEvent(), id: e.id };
      const [outcome] = await store.append([[other, changed]]);
      assert.deepEqual(outcome, { ok: false, conflict: { index: 1, id: e.id, position: first.position } });
      assert.equal(await store.get(other.id), undefined);
    });

    it("keeps groups of one append independent", async () => {
      const e = newEvent();
      await appendOne(store, e);
      const ok1 = newEvent();
      const ok2 = newEvent();
      const outcomes = await store.append([[ok1], [{ ...newEvent(), id: e.id }], [ok2]]);
      assert.deepEqual(outcomes.map((o) => o.ok), [true, false, true]);
      assert.ok(await store.get(ok1.id));
      assert.ok(await store.get(ok2.id));
    });

    it("handles an id twice in one group: same content is a duplicate, other content a conflict", async () => {
      const e = newEvent();
      const [same] = await store.append([[e, { ...e }]]);
      assert.ok(same?.ok);
      assert.deepEqual(same.events.map((x) => x.duplicate), [false, true]);
      assert.equal(same.events[0]?.position, same.events[1]?.position);
      const f = newEvent();
      const [clash] = await store.append([[f, { ...newEvent(), id: f.id }]]);
      assert.deepEqual(clash, { ok: false, conflict: { index: 1, id: f.id, position: "" } });
      assert.equal(await store.get(f.id), undefined);
    });

    it("plans an id shared by two groups of one append: same content is a duplicate of the first (issue 19)", async () => {
      const e = newEvent();
      const bystander = newEvent();
      const outcomes = await store.append([[e], [bystander, { ...e, bytes: new Uint8Array(e.bytes) }]]);
      assert.deepEqual(outcomes.map((o) => o.ok), [true, true]);
      const [first, second] = outcomes as [Extract<GroupOutcome, { ok: true }>, Extract<GroupOutcome, { ok: true }>];
      assert.equal(first.events[0]?.duplicate, false);
      assert.equal(second.events[1]?.duplicate, true);
      assert.equal(second.events[1]?.position, first.events[0]?.position);
      assert.deepEqual(Buffer.from(second.events[1]!.data), Buffer.from(first.events[0]!.data));
      assert.equal(await store.count({ filter: { subject: { exact: e.subject } } }), 1);
      assert.ok(await store.get(bystander.id));
    });

    it("plans an id shared by two groups of one append: other content refuses only the later group (issue 19)", async () => {
      const e = newEvent();
      const bystander = newEvent();
      const after = newEvent();
      const clash = { ...newEvent(), id: e.id };
      const outcomes = await store.append([[e], [bystander, clash], [after]]);
      assert.deepEqual(outcomes.map((o) => o.ok), [true, false, true]);
      const first = outcomes[0] as Extract<GroupOutcome, { ok: true }>;
      assert.deepEqual(outcomes[1], { ok: false, conflict: { index: 1, id: e.id, position: first.events[0]?.position } });
      assert.equal(await store.get(bystander.id), undefined, "nothing of the refused group is stored");
      assert.ok(await store.get(after.id));
      assert.deepEqual(eventFromBinary((await store.get(e.id))!.data).subject, e.subject);
    });

    it("answers undefined for an unknown id", async () => {
      assert.equal(await store.get(newEventId()), undefined);
    });

    describe("scan and count", () => {
      const tag = `scan-${randomUUID()}`;
      const written: { e: NewEvent; a: StoredEvent }[] = [];
      before(async () => {
        const specs: [EventType, string, string][] = [
          ["like.added", "a-svc", `${tag}/book/1`],
          ["comment.created", "a-svc", `${tag}/book/1`],
          ["like.added", "b-svc", `${tag}/book/2`],
          ["deposit.created", "b-svc", `${tag}/user/9`],
          ["like.added", "a-svc", `${tag}/user/9`],
        ];
        for (const [type, source, subject] of specs) {
          const e = newEvent(type, { source, subject, correlationId: subject.endsWith("9") ? tag : "" });
          written.push({ e, a: await appendOne(store, e) });
        }
      });
      const mine = { subject: { prefix: `${tag}/` } } as const;
      const positions = (rows: StoredEvent[]) => rows.map((r) => r.position);
      const expect = (keep: (e: NewEvent) => boolean) => written.filter((w) => keep(w.e)).map((w) => w.a.position);

      it("filters by types, sources, subject (exact and prefix) and correlation id", async () => {
        const cases: [object, (e: NewEvent) => boolean][] = [
          [{ ...mine }, () => true],
          [{ ...mine, types: ["like.added"] }, (e) => e.type === "like.added"],
          [{ ...mine, types: ["like.added", "deposit.created"] }, (e) => e.type !== "comment.created"],
          [{ ...mine, types: [] }, () => false],
          [{ ...mine, sources: ["b-svc"] }, (e) => e.source === "b-svc"],
          [{ subject: { exact: `${tag}/book/1` } }, (e) => e.subject === `${tag}/book/1`],
          [{ subject: { prefix: `${tag}/user/` } }, (e) => e.subject.startsWith(`${tag}/user/`)],
          [{ correlationId: tag }, (e) => e.correlationId === tag],
          [{ ...mine, types: ["like.added"], sources: ["a-svc"] }, (e) => e.type === "like.added" && e.source === "a-svc"],
        ];
        for (const [filter, keep] of cases) {
          assert.deepEqual(positions(await store.scan({ filter, limit: 100 })), expect(keep), JSON.stringify(filter));
          assert.equal(await store.count({ filter }), expect(keep).length, JSON.stringify(filter));
        }
      });

      it("bounds by position, limit and order", async () => {
        const all = written.map((w) => w.a.position) as [string, string, string, string, string];
        assert.deepEqual(positions(await store.scan({ filter: mine, afterPosition: all[1], limit: 100 })), all.slice(2));
        assert.deepEqual(positions(await store.scan({ filter: mine, beforePosition: all[3], limit: 100 })), all.slice(0, 3));
        assert.deepEqual(positions(await store.scan({ filter: mine, limit: 2 })), all.slice(0, 2));
        assert.deepEqual(positions(await store.scan({ filter: mine, limit: 2, newestFirst: true })), [all[4], all[3]]);
      });

      it("bounds by recorded time: from inclusive, to exclusive", async () => {
        const times = written.map((w) => w.a.recordedUs);
        const from = times[2] as number;
        const got = await store.scan({ filter: mine, fromUs: from, limit: 100 });
        assert.deepEqual(positions(got), written.filter((w) => w.a.recordedUs >= from).map((w) => w.a.position));
        const to = times[2] as number;
        const before = await store.scan({ filter: mine, toUs: to, limit: 100 });
        assert.deepEqual(positions(before), written.filter((w) => w.a.recordedUs < to).map((w) => w.a.position));
        assert.deepEqual(await store.scan({ filter: mine, fromUs: Date.now() * 1000 + 3_600_000_000, limit: 10 }), []);
        assert.equal(await store.count({ filter: mine, fromUs: from }), got.length);
      });

      it("evaluates a where: bounded pages that say how far they read, and whole scans and counts", async () => {
        const filter = { ...mine, where: { expression: "event.source == 'a-svc' && event.type != 'comment.created'" } };
        const keep = (e: NewEvent) => e.source === "a-svc" && e.type !== "comment.created";
        assert.deepEqual(positions(await store.scan({ filter, limit: 100 })), expect(keep));
        assert.deepEqual(positions(await store.scan({ filter, limit: 100, newestFirst: true })), expect(keep).reverse());
        assert.equal(await store.count({ filter }), expect(keep).length);
        const all = written.map((w) => w.a.position) as [string, string, string, string, string];
        // Two rows examined: the first matches, the second does not; the page stops there.
        const short = await store.scanWhere({ filter, limit: 100, maxScanned: 2 });
        assert.deepEqual([positions(short.events), short.scannedTo, short.done, short.matched], [[all[0]], all[1], false, 1]);
        // A limit of matches stops the page at the last match.
        const one = await store.scanWhere({ filter, limit: 1, maxScanned: 100 });
        assert.deepEqual([positions(one.events), one.scannedTo, one.done], [[all[0]], all[0], false]);
        const rest = await store.scanWhere({ filter, afterPosition: all[1], limit: 100, maxScanned: 100, countOnly: true });
        assert.deepEqual([rest.events, rest.matched, rest.scannedTo, rest.done], [[], 1, all[4], true]);
        const none = await store.scanWhere({ filter: { ...filter, types: [] }, limit: 10, maxScanned: 10 });
        assert.deepEqual([none.events, none.scannedTo, none.done], [[], "", true]);
      });
    });

    it("expires events recorded before a time and never reuses their positions", async () => {
      const old = await appendOne(store, newEvent());
      const cutoff = old.recordedUs + 1;
      const removed = await store.expire(cutoff);
      assert.ok(removed >= 1);
      assert.equal(await store.get(eventFromBinary(old.data).id), undefined);
      const fresh = await appendOne(store, newEvent());
      assert.ok(fresh.position > old.position);
    });

    it("orders positions by commit across two writers: a tailing reader misses nothing", async () => {
      // Two store instances on the same storage play two broker replicas.
      const other = await backend.open();
      try {
        const start = await store.headPosition();
        const perWriter = 300;
        const write = async (s: EventStore, n: number) => {
          const ids: string[] = [];
          for (let i = 0; i < n; i += 3) {
            const group = [newEvent(), newEvent(), newEvent()];
            const outcomes = await s.append([group]);
            assert.ok(outcomes[0]?.ok);
            ids.push(...group.map((e) => e.id));
          }
          return ids;
        };
        const seen: StoredEvent[] = [];
        let writing = true;
        const tail = (async () => {
          let after = start;
          // Keep reading after the last position seen, as a subscriber would, until writers stop
          // and a final read comes back empty.
          for (;;) {
            // Only a read that started after the writers finished may end the tail.
            const finalRead = !writing;
            const rows = await store.scan({ filter: {}, afterPosition: after, limit: 50 });
            seen.push(...rows);
            if (rows.length > 0) after = rows.at(-1)!.position;
            else if (finalRead) return;
          }
        })();
        const [a, b] = await Promise.all([write(store, perWriter), write(other, perWriter)]);
        writing = false;
        await tail;
        const seenIds = seen.map((r) => eventFromBinary(r.data).id);
        assert.equal(new Set(seenIds).size, seenIds.length, "an event was read twice");
        const written = new Set([...a, ...b]);
        const missed = [...written].filter((id) => !seenIds.includes(id));
        const extra = seenIds.filter((id) => !written.has(id));
        assert.deepEqual({ missed, extra }, { missed: [], extra: [] }, "the tailing reader missed an event");
        const positions = seen.map((r) => r.position);
        assert.deepEqual([...positions].sort(), positions);
      } finally {
        await other.close();
      }
    });

    it("reads consistently: a scan below a head read before it sees every event up to that head (issue 19)", async () => {
      // Another store instance writes; this one reads the head, then scans up to it, as the live hub
      // does before concluding that a hole is empty. Nothing expires here, so no hole may appear.
      const other = await backend.open();
      try {
        let last = await store.headPosition();
        let writing = true;
        const writer = (async () => {
          for (let i = 0; i < 60; i++) assert.ok((await other.append([[newEvent(), newEvent()]]))[0]?.ok);
          writing = false;
        })();
        let checks = 0;
        for (;;) {
          const final = !writing; // only a check that starts after the writer finished may end the loop
          const head = await store.headPosition();
          if (head > last) {
            const rows = await store.scan({ filter: {}, afterPosition: last, beforePosition: nextPosition(head), limit: 10_000 });
            assert.equal(rows.at(-1)?.position, head, "the scan stopped short of the head it followed");
            assert.equal(rows.length, Number(BigInt(`0x${head}`) - BigInt(`0x${last || "0"}`)), "a position below the head was missing");
            last = head;
            checks++;
          }
          if (final) break;
        }
        await writer;
        assert.ok(checks > 0);
      } finally {
        await other.close();
      }
    });

    it("keeps key-value records: atomic batches, prefix scans in key order, deletes", async () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      const p = `kv-${randomUUID()}/`;
      await store.kvWrite([
        { key: `${p}b`, value: enc("2") },
        { key: `${p}a`, value: enc("1") },
        { key: `${p}c`, value: enc("3") },
        { key: `${p.slice(0, -1)}x`, value: enc("outside") },
      ]);
      assert.deepEqual(Buffer.from((await store.kvGet(`${p}a`))!).toString(), "1");
      assert.deepEqual((await store.kvScan(p)).map((e) => e.key), [`${p}a`, `${p}b`, `${p}c`]);
      await store.kvWrite([{ key: `${p}a`, value: null }, { key: `${p}b`, value: enc("20") }]);
      assert.equal(await store.kvGet(`${p}a`), undefined);
      assert.deepEqual((await store.kvScan(p)).map((e) => Buffer.from(e.value).toString()), ["20", "3"]);
    });

    it("scans key-value records a page at a time: after a key, at most a limit", async () => {
      const p = `kvpage-${randomUUID()}/`;
      const keys = Array.from({ length: 25 }, (_, i) => `${p}${String(i).padStart(4, "0")}`);
      await store.kvWrite([...keys].reverse().map((key) => ({ key, value: new TextEncoder().encode(key) })));
      await store.kvWrite([{ key: `${p.slice(0, -1)}0`, value: new Uint8Array([1]) }]); // sorts just after the prefix range
      const pages: string[][] = [];
      for (let after: string | undefined; ; ) {
        const page = await store.kvScan(p, { after, limit: 10 });
        pages.push(page.map((e) => e.key));
        if (page.length < 10) break;
        after = page.at(-1)?.key;
      }
      assert.deepEqual(pages.map((pg) => pg.length), [10, 10, 5]);
      assert.deepEqual(pages.flat(), keys);
      assert.deepEqual((await store.kvScan(p, { limit: 3 })).map((e) => e.key), keys.slice(0, 3));
      assert.deepEqual((await store.kvScan(p, { after: keys[23] })).map((e) => e.key), [keys[24]]);
      // A key before the prefix range means "from the start of it".
      assert.deepEqual((await store.kvScan(p, { after: "a", limit: 2 })).map((e) => e.key), keys.slice(0, 2));
    });

    it("reports its size on disk", async () => {
      const before = await store.sizeBytes();
      assert.ok(before > 0);
      await store.append([Array.from({ length: 200 }, () => newEvent("book.purchased"))]);
      // why not "grows": MongoDB allocates storage in extents, so a few events may fit in space it has.
      assert.ok((await store.sizeBytes()) >= before);
    });

    it("lists and counts keys without their values, with the same paging as scans", async () => {
      const p = `kvkeys-${randomUUID()}/`;
      const keys = Array.from({ length: 25 }, (_, i) => `${p}${String(i).padStart(4, "0")}`);
      await store.kvWrite(keys.map((key) => ({ key, value: new Uint8Array(64) })));
      await store.kvWrite([{ key: `${p.slice(0, -1)}0`, value: new Uint8Array([1]) }]);
      assert.deepEqual(await store.kvKeys(p), keys);
      assert.deepEqual(await store.kvKeys(p, { after: keys[9], limit: 10 }), keys.slice(10, 20));
      assert.deepEqual(await store.kvKeys(p, { after: "a", limit: 2 }), keys.slice(0, 2));
      assert.equal(await store.kvCount(p), 25);
      assert.equal(await store.kvCount(`${p}nothing/`), 0);
    });

    it("writes conditionally: only while a record holds the expected value, or is absent", async () => {
      const enc = (s: string) => new TextEncoder().encode(s);
      const p = `kvcas-${randomUUID()}/`;
      const guard = `${p}guard`;
      const text = async (key: string) => Buffer.from((await store.kvGet(key)) ?? new Uint8Array()).toString();
      assert.equal(await store.kvWrite([{ key: guard, value: enc("v1") }], { key: guard, value: null }), true);
      assert.equal(await store.kvWrite([{ key: guard, value: enc("other") }], { key: guard, value: null }), false, "absent expected, present found");
      assert.equal(await store.kvWrite([{ key: `${p}x`, value: enc("1") }], { key: guard, value: enc("v1") }), true);
      assert.equal(await store.kvWrite([{ key: `${p}x`, value: enc("2") }, { key: `${p}y`, value: enc("2") }], { key: guard, value: enc("v0") }), false);
      assert.equal(await text(`${p}x`), "1", "a failed expectation writes nothing");
      assert.equal(await store.kvGet(`${p}y`), undefined);
      assert.equal(await text(guard), "v1");
      // Deleting the guarded record itself, then every later write expecting it fails.
      assert.equal(await store.kvWrite([{ key: guard, value: null }], { key: guard, value: enc("v1") }), true);
      assert.equal(await store.kvWrite([{ key: `${p}x`, value: enc("3") }], { key: guard, value: enc("v1") }), false);
      assert.equal(await text(`${p}x`), "1");
      // Of two concurrent writes expecting the same value and changing it, one wins.
      await store.kvWrite([{ key: guard, value: enc("v2") }]);
      const outcomes = await Promise.all(["a", "b"].map((w) => store.kvWrite([{ key: guard, value: enc(`v3-${w}`) }], { key: guard, value: enc("v2") })));
      assert.deepEqual(outcomes.sort(), [false, true]);
    });

    it("orders and pages key-value records by code point, as UTF-8 compares (issue 19)", async () => {
      const p = `kvutf8-${randomUUID()}/`;
      // U+FF5E sorts after U+1F600 in UTF-16 code units but before it by code point.
      const keys = [`${p}a`, `${p}\uFF5E`, `${p}\u{1F600}`, `${p}\u{1F600}x`];
      await store.kvWrite(keys.map((key) => ({ key, value: new Uint8Array([1]) })));
      assert.deepEqual((await store.kvScan(p)).map((e) => e.key), keys);
      const paged: string[] = [];
      for (let after: string | undefined; ; ) {
        const page = await store.kvScan(p, { after, limit: 1 });
        if (page.length === 0) break;
        paged.push(...page.map((e) => e.key));
        after = page.at(-1)?.key;
      }
      assert.deepEqual(paged, keys);
    });

    it("includes keys and subjects that continue a prefix with U+10FFFF (issue 19)", async () => {
      const p = `kvmax-${randomUUID()}/`;
      await store.kvWrite([{ key: `${p}\u{10FFFF}`, value: new Uint8Array([1]) }, { key: `${p}a`, value: new Uint8Array([2]) }]);
      assert.deepEqual((await store.kvScan(p)).map((e) => e.key), [`${p}a`, `${p}\u{10FFFF}`]);
      const tag = `max-${randomUUID()}/`;
      const e = await appendOne(store, newEvent("like.added", { subject: `${tag}\u{10FFFF}z` }));
      assert.deepEqual((await store.scan({ filter: { subject: { prefix: tag } }, limit: 10 })).map((r) => r.position), [e.position]);
    });

    it("does not read for a caller that already went away: rejects with its reason (issue 19)", async () => {
      const controller = new AbortController();
      const reason = new Error("client cancelled");
      controller.abort(reason);
      await assert.rejects(store.scan({ filter: {}, limit: 10 }, { signal: controller.signal }), (err: unknown) => err === reason);
      await assert.rejects(store.count({ filter: {} }, { signal: controller.signal }), (err: unknown) => err === reason);
    });

    it("answers ping, and STORE_UNAVAILABLE once closed", async () => {
      await store.ping();
      const extra = await backend.open();
      await extra.close();
      await assert.rejects(extra.append([[newEvent()]]), (err: unknown) => err instanceof DomainError && err.reason === ErrorReason.STORE_UNAVAILABLE);
    });
  });
}
