import { Binary, type ClientSession, type Collection, type Filter, type MongoClient, type TransactionOptions } from "mongodb";
import type { Logger } from "pino";
import { withSuffix } from "../envelope-suffix.js";
import type { Appended, EventStore, GroupOutcome, KvEntry, KvExpect, KvPage, KvWrite, NewEvent, ReadLimits, ScanQuery, StoreRange, StoredEvent, WherePage, WhereScanQuery } from "../event-store.js";
import { countAllWhere, scanAllWhere, scanWhereInProcess } from "../where-scan.js";
import { encodePosition } from "../position.js";
import { sequenceBounds } from "../position-bounds.js";
import { translateMongoError } from "./mongo-errors.js";
import { compareUtf8, prefixRange } from "./mongo-keys.js";
import { planAppend, type EventSource } from "./mongo-plan.js";
import { CausalReads, MAJORITY, readMaxTimeMs } from "./mongo-reads.js";
import { runTransaction } from "./mongo-txn.js";

/** Options of {@link openMongoStore}. */
export interface MongoStoreOptions {
  url: string;
  database: string;
  writeConcern: "majority" | number;
  retentionMs: number;
  log: Logger;
  /** Longest one commit (with its retries) or one read may take. Default 10 s. */
  operationTimeoutMs?: number;
}

export interface EventDoc {
  _id: string;
  pos: bigint;
  type: string;
  source: string;
  subject?: string;
  corr?: string;
  /** recorded_time in µs. */
  rec: bigint;
  /** recorded_time as a date: the TTL index expires the event `retention` after it. */
  at: Date;
  /** Length of the producer's bytes at the start of data. */
  core: number;
  data: Binary;
}

export interface CounterDoc {
  _id: string;
  seq: bigint;
  lastRecUs: bigint;
}

/** Broker state records (consumer groups). */
export interface KvDoc {
  _id: string;
  v: Binary;
  /** Bumped by conditional writes, so that two of them on one record conflict (see kvWrite). */
  cas?: number;
}

export const COUNTER_ID = "events";
export const DEFAULT_OPERATION_TIMEOUT_MS = 10_000;
/**
 * Most producer bytes in one append transaction. A group commit may hold thousands of events of up
 * to 1 MiB; a large transaction keeps its whole write set in the WiredTiger cache and aborts under
 * cache pressure (TransactionTooLargeForCache), which would then be retried over and over.
 */
export const MONGO_MAX_COMMIT_BYTES = 16 * 1024 * 1024;

const nowUs = (): number => Math.floor((performance.timeOrigin + performance.now()) * 1000);

type Row = Pick<EventDoc, "pos" | "rec" | "data">;
/** Options every read passes to the driver (see {@link MongoStore.read}). */
interface ReadOptions {
  session: ClientSession;
  readConcern: typeof MAJORITY;
  maxTimeMS: number;
  signal?: AbortSignal;
}
const ROW = { pos: 1, rec: 1, data: 1 } as const;

function toStored(doc: Row): StoredEvent {
  return { position: encodePosition(doc.pos), recordedUs: Number(doc.rec), data: doc.data.buffer };
}

/**
 * The MongoDB store. Positions come from a counter document updated inside the same transaction as
 * the inserts: concurrent transactions conflict on it, so they commit one after another and
 * position order is commit order. A reader that resumes after position P can therefore never miss
 * an event committed later with a smaller position, however many brokers write. Reads see only
 * majority-committed data, in causal order (mongo-reads.ts).
 */
export class MongoStore implements EventStore {
  readonly kind = "mongodb";
  readonly maxCommitBytes = MONGO_MAX_COMMIT_BYTES;
  private readonly reads: CausalReads;
  private readonly timeoutMs: number;

  constructor(
    private readonly client: MongoClient,
    private readonly events: Collection<EventDoc>,
    private readonly counters: Collection<CounterDoc>,
    private readonly kv: Collection<KvDoc>,
    private readonly options: MongoStoreOptions,
  ) {
    this.reads = new CausalReads(client);
    this.timeoutMs = options.operationTimeoutMs ?? DEFAULT_OPERATION_TIMEOUT_MS;
  }

  /** Runs `body` in a time-bounded transaction; later reads see what it wrote. */
  private async transaction<T>(body: (session: ClientSession, remainingMs: number) => Promise<T>, readConcern?: "snapshot"): Promise<T> {
    const session = this.client.startSession();
    const options = (remainingMs: number): TransactionOptions => ({
      ...(readConcern ? { readConcern: { level: readConcern } } : {}),
      writeConcern: { w: this.options.writeConcern, journal: true, wtimeoutMS: remainingMs },
      readPreference: "primary",
      maxCommitTimeMS: remainingMs,
    });
    try {
      const result = await runTransaction(session, (remaining) => body(session, remaining), options, this.timeoutMs);
      this.reads.observe(session);
      return result;
    } catch (err) {
      throw translateMongoError(err);
    } finally {
      await session.endSession();
    }
  }

  append(groups: readonly (readonly NewEvent[])[]): Promise<GroupOutcome[]> {
    return this.transaction((session, remainingMs) => this.appendIn(session, groups, remainingMs), "snapshot");
  }

  private async appendIn(session: ClientSession, groups: readonly (readonly NewEvent[])[], remainingMs: number): Promise<GroupOutcome[]> {
    const ids = [...new Set(groups.flatMap((g) => g.map((e) => e.id)))];
    const existing = new Map<string, EventDoc>();
    for await (const doc of this.events.find({ _id: { $in: ids } }, { session, signal: AbortSignal.timeout(remainingMs) })) existing.set(doc._id, doc);
    const plan = planAppend(groups, existing, (d) => d.data.buffer.subarray(0, d.core));
    let first = 0n;
    let recordedUs = 0;
    if (plan.fresh.length > 0) {
      const n = BigInt(plan.fresh.length);
      const counter = await this.counters.findOneAndUpdate({ _id: COUNTER_ID }, { $inc: { seq: n }, $max: { lastRecUs: BigInt(nowUs()) } }, { upsert: true, returnDocument: "after", session });
      if (!counter) throw new Error("counter upsert returned no document");
      first = counter.seq - n + 1n;
      recordedUs = Number(counter.lastRecUs);
    }
    const fresh: Appended[] = plan.fresh.map((e, i) => {
      const position = encodePosition(first + BigInt(i));
      return { position, recordedUs, data: withSuffix(e.bytes, recordedUs, position, e.fillTime), duplicate: false };
    });
    const docs = plan.fresh.map((e, i) => this.doc(e, first + BigInt(i), recordedUs, (fresh[i] as Appended).data));
    // Planned ids are unique within the commit, so a duplicate key here is a real race, which a
    // transaction reports as a (transient, retried) write conflict instead.
    if (docs.length > 0) await this.events.insertMany(docs, { session, ordered: true });
    const appended = (s: EventSource<EventDoc>): Appended =>
      "stored" in s ? { ...toStored(s.stored), duplicate: true } : "fresh" in s ? (fresh[s.fresh] as Appended) : { ...(fresh[s.copyOf] as Appended), duplicate: true };
    return plan.groups.map((g) => {
      if (g.ok) return { ok: true, events: g.sources.map(appended) };
      return { ok: false, conflict: { index: g.index, id: g.id, position: g.against === undefined ? "" : appended(g.against).position } };
    });
  }

  private doc(e: NewEvent, pos: bigint, recordedUs: number, data: Uint8Array): EventDoc {
    const doc: EventDoc = { _id: e.id, pos, type: e.type, source: e.source, rec: BigInt(recordedUs), at: new Date(recordedUs / 1000), core: e.bytes.length, data: new Binary(data) };
    if (e.subject !== "") doc.subject = e.subject;
    if (e.correlationId !== "") doc.corr = e.correlationId;
    return doc;
  }

  /** Runs a read with majority read concern, causally after every earlier read and commit. */
  private read<T>(limits: ReadLimits | undefined, body: (opts: ReadOptions) => Promise<T>): Promise<T> {
    const maxTimeMS = readMaxTimeMs(this.timeoutMs, limits, Date.now());
    return this.reads
      .run((session) => body({ session, readConcern: MAJORITY, maxTimeMS, ...(limits?.signal ? { signal: limits.signal } : {}) }))
      .catch((err: unknown) => {
        // why: the caller cancelled (client went away): its own reason, not a store failure.
        if (limits?.signal?.aborted && err === limits.signal.reason) throw err;
        throw translateMongoError(err);
      });
  }

  get(id: string): Promise<StoredEvent | undefined> {
    return this.read(undefined, async (o) => {
      const doc = await this.events.findOne({ _id: id }, { ...o, projection: ROW });
      return doc ? toStored(doc) : undefined;
    });
  }

  private async rangeFilter(range: StoreRange, o: ReadOptions): Promise<Filter<EventDoc> | undefined> {
    const { filter } = range;
    if (filter.types?.length === 0 || filter.sources?.length === 0) return undefined;
    const firsts = new Map<number, number | undefined>();
    for (const us of [range.fromUs, range.toUs]) {
      if (us === undefined) continue;
      const doc = await this.events.find({ rec: { $gte: BigInt(us) } }, o).sort({ rec: 1, pos: 1 }).limit(1).project<{ pos: bigint }>({ pos: 1 }).next();
      firsts.set(us, doc ? Number(doc.pos) : undefined);
    }
    const bounds = sequenceBounds(range, (us) => firsts.get(us));
    if (bounds === undefined) return undefined;
    const q: Filter<EventDoc> = { pos: Number.isFinite(bounds.hi) ? { $gt: BigInt(bounds.lo), $lt: BigInt(bounds.hi) } : { $gt: BigInt(bounds.lo) } };
    if (filter.types) q.type = { $in: [...filter.types] };
    if (filter.sources) q.source = { $in: [...filter.sources] };
    if (filter.subject && "exact" in filter.subject) q.subject = filter.subject.exact;
    // Strings compare as UTF-8 bytes; `$exists` makes the predicate imply subject_pos's partial filter.
    else if (filter.subject && filter.subject.prefix !== "") q.subject = { $exists: true, ...prefixRange(filter.subject.prefix) };
    if (filter.correlationId !== undefined) q.corr = filter.correlationId;
    return q;
  }

  scan(query: ScanQuery, limits?: ReadLimits): Promise<StoredEvent[]> {
    if (query.filter.where) return scanAllWhere(this, query, limits);
    return this.read(limits, async (o) => {
      const q = await this.rangeFilter(query, o);
      if (!q) return [];
      const order = query.newestFirst ? -1 : 1;
      if (!isPrefixQuery(query)) return (await this.events.find(q, o).sort({ pos: order }).limit(query.limit).project<Row>(ROW).toArray()).map(toStored);
      // A subject prefix is a range on subject_pos, whose entries are not in position order, so the
      // server must sort. The pipeline needs only `pos` for its top-k sort, and an aggregation reads
      // only the fields it needs (manual, "Aggregation Pipeline Optimization > Projection
      // Optimization"), so the sort holds `limit` positions, never `limit` documents of up to 1 MiB
      // each (the 100 MB in-memory sort limit); then the page is fetched by position.
      const pipeline = [{ $match: q }, { $project: { _id: 0, pos: 1 } }, { $sort: { pos: order } }, { $limit: query.limit }];
      const keys = await this.events.aggregate<{ pos: bigint }>(pipeline, { ...o, hint: "subject_pos" }).toArray();
      if (keys.length === 0) return [];
      const rows = await this.events.find({ pos: { $in: keys.map((k) => k.pos) } }, o).sort({ pos: order }).project<Row>(ROW).toArray();
      return rows.map(toStored);
    });
  }

  scanWhere(query: WhereScanQuery, limits?: ReadLimits): Promise<WherePage> {
    return scanWhereInProcess((q, l) => this.scan(q, l), query, limits);
  }

  count(range: StoreRange, limits?: ReadLimits): Promise<number> {
    if (range.filter.where) return countAllWhere(this, range, limits);
    return this.read(limits, async (o) => {
      const q = await this.rangeFilter(range, o);
      return q ? await this.events.countDocuments(q, o) : 0;
    });
  }

  headPosition(): Promise<string> {
    return this.read(undefined, async (o) => {
      const c = await this.counters.findOne({ _id: COUNTER_ID }, o);
      return c && c.seq > 0n ? encodePosition(c.seq) : "";
    });
  }

  async expire(beforeUs: number): Promise<number> {
    // The TTL index deletes in the background too; this makes expiry prompt and countable, and
    // covers events stored before the TTL index moved to the recorded time.
    try {
      return (await this.events.deleteMany({ rec: { $lt: BigInt(Math.floor(beforeUs)) } }, { maxTimeMS: this.timeoutMs * 6 })).deletedCount;
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async ping(): Promise<void> {
    try {
      await this.client.db("admin").command({ ping: 1 }, { signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  async sizeBytes(): Promise<number> {
    try {
      const stats = await this.client.db(this.events.dbName).command({ dbStats: 1 }, { signal: AbortSignal.timeout(this.timeoutMs) });
      return Number(stats["storageSize"] ?? 0) + Number(stats["indexSize"] ?? 0);
    } catch (err) {
      throw translateMongoError(err);
    }
  }

  kvGet(key: string): Promise<Uint8Array | undefined> {
    return this.read(undefined, async (o) => (await this.kv.findOne({ _id: key }, o))?.v.buffer);
  }

  kvScan(prefix: string, page: KvPage = {}): Promise<KvEntry[]> {
    return this.read(undefined, async (o) => {
      // why: compared in MongoDB's order (UTF-8 bytes), not JavaScript's (UTF-16 code units).
      const cursor = this.kv.find(this.kvRange(prefix, page), o).sort({ _id: 1 });
      const docs = await (page.limit === undefined ? cursor : cursor.limit(page.limit)).toArray();
      return docs.map((d) => ({ key: d._id, value: d.v.buffer }));
    });
  }

  /** The kv filter of a prefix, after a key (compared in MongoDB's order, UTF-8 bytes). */
  private kvRange(prefix: string, page: KvPage) {
    const from = page.after !== undefined && compareUtf8(page.after, prefix) >= 0 ? { $gt: page.after } : { $gte: prefix };
    return { _id: { ...prefixRange(prefix), ...from } };
  }

  kvKeys(prefix: string, page: KvPage = {}): Promise<string[]> {
    return this.read(undefined, async (o) => {
      const cursor = this.kv.find(this.kvRange(prefix, page), { ...o, projection: { _id: 1 } }).sort({ _id: 1 });
      return (await (page.limit === undefined ? cursor : cursor.limit(page.limit)).toArray()).map((d) => d._id);
    });
  }

  kvCount(prefix: string): Promise<number> {
    return this.read(undefined, (o) => this.kv.countDocuments(this.kvRange(prefix, {}), o));
  }

  /**
   * Whether the expected record holds. A value is checked by writing the record itself (its `cas`
   * counter): a concurrent transaction that changes or deletes it then conflicts with this one,
   * which a mere read inside the transaction would not. Absence is read; callers that expect a key
   * absent write that key, and two inserts of it conflict.
   */
  private async holds(session: ClientSession, expect: KvExpect): Promise<boolean> {
    if (expect.value === null) return (await this.kv.findOne({ _id: expect.key }, { session, projection: { _id: 1 } })) === null;
    return (await this.kv.updateOne({ _id: expect.key, v: new Binary(expect.value) }, { $inc: { cas: 1 } }, { session })).matchedCount === 1;
  }

  async kvWrite(entries: readonly KvWrite[], expect?: KvExpect): Promise<boolean> {
    if (entries.length === 0 && !expect) return true;
    return this.transaction(async (session) => {
      // A failed expectation commits nothing: the check wrote nothing either.
      if (expect && !(await this.holds(session, expect))) return false;
      if (entries.length > 0) {
        await this.kv.bulkWrite(
          entries.map((e) =>
            e.value === null
              ? { deleteOne: { filter: { _id: e.key } } }
              : { replaceOne: { filter: { _id: e.key }, replacement: { _id: e.key, v: new Binary(e.value) }, upsert: true } },
          ),
          { session, ordered: true },
        );
      }
      return true;
    });
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

function isPrefixQuery(range: StoreRange): boolean {
  const s = range.filter.subject;
  return s !== undefined && "prefix" in s && s.prefix !== "";
}
