import { Binary, MongoClient, type ClientSession, type Collection, type Filter } from "mongodb";
import type { Logger } from "pino";
import { withSuffix } from "../envelope-suffix.js";
import type { Appended, EventStore, GroupOutcome, KvEntry, KvExpect, KvPage, KvWrite, NewEvent, ScanQuery, StoreRange, StoredEvent } from "../event-store.js";
import { encodePosition } from "../position.js";
import { sequenceBounds } from "../position-bounds.js";
import { sameContent } from "../same-content.js";
import { isDuplicateKey, translateMongoError } from "./mongo-errors.js";

/** Options of {@link openMongoStore}. */
export interface MongoStoreOptions {
  url: string;
  database: string;
  writeConcern: "majority" | number;
  retentionMs: number;
  log: Logger;
}

interface EventDoc {
  _id: string;
  pos: bigint;
  type: string;
  source: string;
  subject?: string;
  corr?: string;
  /** recorded_time in µs. */
  rec: bigint;
  /** Length of the producer's bytes at the start of data. */
  core: number;
  data: Binary;
  /** TTL index field: retention. */
  expireAt: Date;
}

interface CounterDoc {
  _id: string;
  seq: bigint;
  lastRecUs: bigint;
}

/** Broker state records (consumer groups). */
interface KvDoc {
  _id: string;
  v: Binary;
  /** Bumped by conditional writes, so that two of them on one record conflict (see kvWrite). */
  cas?: number;
}

/** The kv documents of a prefix, after a key. */
function kvRange(prefix: string, page: KvPage) {
  const from = page.after !== undefined && page.after >= prefix ? { $gt: page.after } : { $gte: prefix };
  return { _id: { ...from, $lt: prefix + MAX_CHAR } };
}

/** Thrown inside a transaction to abort it when a conditional write's expectation fails. */
class ExpectationFailed extends Error {
  override readonly name = "ExpectationFailed";
}

const COUNTER_ID = "events";
const MAX_ATTEMPTS = 5;
const MAX_CHAR = "\u{10FFFF}";

const nowUs = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

function toStored(doc: Pick<EventDoc, "pos" | "rec" | "data">): StoredEvent {
  return { position: encodePosition(doc.pos), recordedUs: Number(doc.rec), data: doc.data.buffer };
}

/**
 * The MongoDB store. Positions come from a counter document updated inside the same transaction as
 * the inserts: concurrent transactions conflict on it, so they commit one after another and
 * position order is commit order. A reader that resumes after position P can therefore never miss
 * an event committed later with a smaller position, however many brokers write.
 */
class MongoStore implements EventStore {
  readonly kind = "mongodb";

  constructor(
    private readonly client: MongoClient,
    private readonly events: Collection<EventDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly kv: Collection<KvDoc>,
    private readonly options: MongoStoreOptions,
  ) {}

  async append(groups: readonly (readonly NewEvent[])[]): Promise<GroupOutcome[]> {
    for (let attempt = 1; ; attempt++) {
      const session = this.client.startSession();
      try {
        return await session.withTransaction(() => this.appendIn(session, groups), {
          writeConcern: { w: this.options.writeConcern, journal: true },
          readConcern: { level: "snapshot" },
        });
      } catch (err) {
        // why: two brokers inserted the same new id at once; the retry finds it and dedupes.
        if (isDuplicateKey(err) && attempt < MAX_ATTEMPTS) continue;
        throw translateMongoError(err);
      } finally {
        await session.endSession();
      }
    }
  }

  private async appendIn(session: ClientSession, groups: readonly (readonly NewEvent[])[]): Promise<GroupOutcome[]> {
    const ids = [...new Set(groups.flatMap((g) => g.map((e) => e.id)))];
    const existing = new Map<string, EventDoc>();
    for await (const doc of this.events.find({ _id: { $in: ids } }, { session })) existing.set(doc._id, doc);
    const planned = groups.map((g) => planGroup(g, existing));
    const fresh = planned.flatMap((p) => (p.ok ? p.fresh : []));
    let first = 0n;
    let recordedUs = 0;
    if (fresh.length > 0) {
      const counter = await this.counters.findOneAndUpdate(
        { _id: COUNTER_ID },
        { $inc: { seq: BigInt(fresh.length) }, $max: { lastRecUs: BigInt(nowUs()) } },
        { upsert: true, returnDocument: "after", session },
      );
      if (!counter) throw new Error("counter upsert returned no document");
      first = counter.seq - BigInt(fresh.length) + 1n;
      recordedUs = Number(counter.lastRecUs);
    }
    const docs: EventDoc[] = [];
    const assigned = new Map<NewEvent, Appended>();
    fresh.forEach((e, i) => {
      const pos = first + BigInt(i);
      const position = encodePosition(pos);
      const data = withSuffix(e.bytes, recordedUs, position, e.fillTime);
      assigned.set(e, { position, recordedUs, data, duplicate: false });
      docs.push(this.doc(e, pos, recordedUs, data));
    });
    if (docs.length > 0) await this.events.insertMany(docs, { session, ordered: false });
    return planned.map((p, g) => (p.ok ? { ok: true, events: p.resolve(assigned, groups[g] as readonly NewEvent[]) } : p));
  }

  private doc(e: NewEvent, pos: bigint, recordedUs: number, data: Uint8Array): EventDoc {
    const doc: EventDoc = {
      _id: e.id,
      pos,
      type: e.type,
      source: e.source,
      rec: BigInt(recordedUs),
      core: e.bytes.length,
      data: new Binary(data),
      expireAt: new Date(recordedUs / 1000 + this.options.retentionMs),
    };
    if (e.subject !== "") doc.subject = e.subject;
    if (e.correlationId !== "") doc.corr = e.correlationId;
    return doc;
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    try {
      const doc = await this.events.findOne({ _id: id }, { projection: { pos: 1, rec: 1, data: 1 } });
      return doc ? toStored(doc) : undefined;
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  private async rangeFilter(range: StoreRange): Promise<Filter<EventDoc> | undefined> {
    const { filter } = range;
    if (filter.types?.length === 0 || filter.sources?.length === 0) return undefined;
    const firsts = new Map<number, number | undefined>();
    for (const us of [range.fromUs, range.toUs]) {
      if (us === undefined) continue;
      const doc = await this.events.find({ rec: { $gte: BigInt(us) } }).sort({ rec: 1, pos: 1 }).limit(1).project<{ pos: bigint }>({ pos: 1 }).next();
      firsts.set(us, doc ? Number(doc.pos) : undefined);
    }
    const bounds = sequenceBounds(range, (us) => firsts.get(us));
    if (bounds === undefined) return undefined;
    const q: Filter<EventDoc> = { pos: Number.isFinite(bounds.hi) ? { $gt: BigInt(bounds.lo), $lt: BigInt(bounds.hi) } : { $gt: BigInt(bounds.lo) } };
    if (filter.types) q.type = { $in: [...filter.types] };
    if (filter.sources) q.source = { $in: [...filter.sources] };
    if (filter.subject && "exact" in filter.subject) q.subject = filter.subject.exact;
    // Strings compare as UTF-8 bytes, so [prefix, prefix + MAX_CHAR) is exactly the prefix (indexed).
    else if (filter.subject && filter.subject.prefix !== "") q.subject = { $gte: filter.subject.prefix, $lt: filter.subject.prefix + MAX_CHAR };
    if (filter.correlationId !== undefined) q.corr = filter.correlationId;
    return q;
  }

  async scan(query: ScanQuery): Promise<StoredEvent[]> {
    try {
      const q = await this.rangeFilter(query);
      if (!q) return [];
      const docs = await this.events
        .find(q)
        .sort({ pos: query.newestFirst ? -1 : 1 })
        .limit(query.limit)
        .project<Pick<EventDoc, "pos" | "rec" | "data">>({ pos: 1, rec: 1, data: 1 })
        .toArray();
      return docs.map(toStored);
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async count(range: StoreRange): Promise<number> {
    try {
      const q = await this.rangeFilter(range);
      return q ? await this.events.countDocuments(q) : 0;
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async headPosition(): Promise<string> {
    try {
      const c = await this.counters.findOne({ _id: COUNTER_ID });
      return c && c.seq > 0n ? encodePosition(c.seq) : "";
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async expire(beforeUs: number): Promise<number> {
    // The TTL index deletes in the background too; this makes expiry prompt and countable.
    try {
      return (await this.events.deleteMany({ rec: { $lt: BigInt(Math.floor(beforeUs)) } })).deletedCount;
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.db("admin").command({ ping: 1 });
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async kvGet(key: string): Promise<Uint8Array | undefined> {
    try {
      return (await this.kv.findOne({ _id: key }))?.v.buffer;
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async kvScan(prefix: string, page: KvPage = {}): Promise<KvEntry[]> {
    try {
      const cursor = this.kv.find(kvRange(prefix, page)).sort({ _id: 1 });
      const docs = await (page.limit === undefined ? cursor : cursor.limit(page.limit)).toArray();
      return docs.map((d) => ({ key: d._id, value: d.v.buffer }));
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async kvKeys(prefix: string, page: KvPage = {}): Promise<string[]> {
    try {
      const cursor = this.kv.find(kvRange(prefix, page), { projection: { _id: 1 } }).sort({ _id: 1 });
      return (await (page.limit === undefined ? cursor : cursor.limit(page.limit)).toArray()).map((d) => d._id);
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async kvCount(prefix: string): Promise<number> {
    try {
      return await this.kv.countDocuments(kvRange(prefix, {}));
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  /**
   * A value is checked by writing the expected record itself (its `cas` counter): a concurrent
   * transaction that changes or deletes it then conflicts with this one, which a mere read inside
   * the transaction would not. Absence is read; callers that expect a key absent write that key,
   * and two inserts of it conflict.
   */
  private async expectIn(session: ClientSession, expect: KvExpect): Promise<void> {
    if (expect.value === null) {
      if (await this.kv.findOne({ _id: expect.key }, { session, projection: { _id: 1 } })) throw new ExpectationFailed();
      return;
    }
    const r = await this.kv.updateOne({ _id: expect.key, v: new Binary(expect.value) }, { $inc: { cas: 1 } }, { session });
    if (r.matchedCount !== 1) throw new ExpectationFailed();
  }

  async kvWrite(entries: readonly KvWrite[], expect?: KvExpect): Promise<boolean> {
    if (entries.length === 0 && !expect) return true;
    const session = this.client.startSession();
    try {
      await session.withTransaction(
        async () => {
          if (expect) await this.expectIn(session, expect);
          if (entries.length === 0) return;
          await this.kv.bulkWrite(
            entries.map((e) =>
              e.value === null
                ? { deleteOne: { filter: { _id: e.key } } }
                : { replaceOne: { filter: { _id: e.key }, replacement: { _id: e.key, v: new Binary(e.value) }, upsert: true } },
            ),
            { session, ordered: true },
          );
        },
        { writeConcern: { w: this.options.writeConcern, journal: true } },
      );
      return true;
    } catch (err) {
      if (err instanceof ExpectationFailed) return false;
      throw translateMongoError(err);
    } finally {
      await session.endSession();
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

type Plan =
  | { ok: true; fresh: NewEvent[]; resolve: (assigned: Map<NewEvent, Appended>, group: readonly NewEvent[]) => Appended[] }
  | { ok: false; conflict: { index: number; id: string; position: string } };

/** Decides, before anything is written, which events of a group are new and whether it conflicts. */
function planGroup(group: readonly NewEvent[], existing: Map<string, EventDoc>): Plan {
  const firstOf = new Map<string, NewEvent>();
  const fresh: NewEvent[] = [];
  for (let i = 0; i < group.length; i++) {
    const e = group[i] as NewEvent;
    const stored = existing.get(e.id);
    if (stored) {
      if (!sameContent(stored.data.buffer.subarray(0, stored.core), e.bytes)) return { ok: false, conflict: { index: i, id: e.id, position: encodePosition(stored.pos) } };
      continue;
    }
    const first = firstOf.get(e.id);
    if (first) {
      if (!sameContent(first.bytes, e.bytes)) return { ok: false, conflict: { index: i, id: e.id, position: "" } };
      continue;
    }
    firstOf.set(e.id, e);
    fresh.push(e);
  }
  return {
    ok: true,
    fresh,
    resolve: (assigned, g) =>
      g.map((e) => {
        const stored = existing.get(e.id);
        if (stored) return { ...toStored(stored), duplicate: true };
        const own = assigned.get(e) as Appended | undefined;
        if (own) return own;
        const first = assigned.get(firstOf.get(e.id) as NewEvent) as Appended;
        return { ...first, duplicate: true };
      }),
  };
}

async function ensureIndexes(events: Collection<EventDoc>): Promise<void> {
  await events.createIndexes([
    { key: { pos: 1 }, name: "pos", unique: true },
    { key: { type: 1, pos: 1 }, name: "type_pos" },
    { key: { source: 1, pos: 1 }, name: "source_pos" },
    { key: { subject: 1, pos: 1 }, name: "subject_pos", partialFilterExpression: { subject: { $exists: true } } },
    { key: { corr: 1, pos: 1 }, name: "corr_pos", partialFilterExpression: { corr: { $exists: true } } },
    { key: { rec: 1, pos: 1 }, name: "rec_pos" },
    { key: { expireAt: 1 }, name: "ttl", expireAfterSeconds: 0 },
  ]);
}

/**
 * Connects to MongoDB (a replica set or sharded cluster: transactions are required) and creates the
 * collections' indexes.
 * @throws DomainError STORE_UNAVAILABLE when the deployment cannot be reached
 */
export async function openMongoStore(options: MongoStoreOptions): Promise<EventStore> {
  // A server selection timeout in the URL wins over ours.
  const timeout = /[?&]serverSelectionTimeoutMS=/i.test(options.url) ? {} : { serverSelectionTimeoutMS: 10_000 };
  const client = new MongoClient(options.url, { useBigInt64: true, promoteBuffers: false, ...timeout });
  try {
    await client.connect();
    const db = client.db(options.database);
    const events = db.collection<EventDoc>("events");
    await ensureIndexes(events);
    options.log.info({ database: options.database }, "mongodb store ready");
    return new MongoStore(client, events, db.collection<CounterDoc>("counters"), db.collection<KvDoc>("kv"), options);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw translateMongoError(err);
  }
}
