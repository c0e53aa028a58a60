import { mkdirSync } from "node:fs";
import { stat } from "node:fs/promises";
import { extname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import { storeUnavailable } from "../../errors.js";
import { withSuffix } from "../envelope-suffix.js";
import { encodePosition } from "../position.js";
import type { Appended, CheckpointTiming, CommitTiming, EventStore, GroupOutcome, KvEntry, KvExpect, KvPage, KvWrite, NewEvent, ReadLimits, ScanQuery, StoreRange, StoredEvent, WherePage, WhereScanQuery } from "../event-store.js";
import { addWhereEvalErrors } from "../../cel/cel-where.js";
import { countAllWhere, scanAllWhere } from "../where-scan.js";
import { type Clock, systemClock } from "../../clock.js";
import { EXPIRE_CHUNK } from "./sqlite-protocol.js";
import { CheckpointPolicy, DEFAULT_CHECKPOINT_POLICY, type CheckpointPolicyOptions } from "./checkpoint-policy.js";
import type { PackedGroups, WorkerAppendResult, WorkerData, WorkerRequest, WorkerResponse, WorkerRows, WorkerWherePage } from "./sqlite-protocol.js";

export const DB_FILE_NAME = "events.db";

// SQLite result codes that mean "the store cannot do its job right now" rather than a bug.
const UNAVAILABLE_CODES = /^SQLITE_(READONLY|BUSY|LOCKED|FULL|IOERR|CANTOPEN|CORRUPT|NOTADB|PERM|NOMEM|PROTOCOL)/;

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  dataDir: string;
  sync: "full" | "normal";
  log: Logger;
  /**
   * How long a write waits for a lock held by another process before failing with UNAVAILABLE.
   * @defaultValue 5000
   */
  busyTimeoutMs?: number;
  /** When the WAL is checkpointed; the default bounds it near 4 MiB. */
  checkpoints?: CheckpointPolicyOptions;
  clock?: Clock;
}

type Distribute<T> = T extends unknown ? Omit<T, "id"> : never;
type Request = Distribute<WorkerRequest>;

/** A worker thread plus the promises waiting for its answers. */
class WorkerChannel {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: WorkerResponse) => void; reject: (e: unknown) => void }>();
  private nextId = 1;
  private failure: Error | undefined;

  constructor(data: WorkerData, log: Logger) {
    const self = fileURLToPath(import.meta.url);
    // The worker source sits beside this file with the same extension (.ts under tsx, .js built).
    const source = pathToFileURL(join(self, "..", `sqlite-worker${extname(self)}`)).href;
    this.worker = new Worker(new URL("./worker-entry.mjs", import.meta.url), { workerData: { ...data, source } });
    this.worker.on("message", (res: WorkerResponse) => {
      const p = this.pending.get(res.id);
      this.pending.delete(res.id);
      // An idle worker must not keep the process alive; a busy one must.
      if (this.pending.size === 0) this.worker.unref();
      p?.resolve(res);
    });
    this.worker.on("error", (err) => {
      log.error({ err, role: data.role }, "sqlite worker failed");
      this.fail(err);
    });
    this.worker.on("exit", (code) => this.fail(new Error(`sqlite ${data.role} worker exited with code ${code}`)));
    this.worker.unref();
  }

  /** Calls made so far, and whether one is waiting for its answer: "did this worker do anything meanwhile". */
  get calls(): number {
    return this.nextId - 1;
  }

  get busy(): boolean {
    return this.pending.size > 0;
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(storeUnavailable(err));
    this.pending.clear();
  }

  async call(req: Request): Promise<NonNullable<WorkerResponse["result"]>> {
    if (this.failure) throw storeUnavailable(this.failure);
    const id = this.nextId++;
    const res = await new Promise<WorkerResponse>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve, reject });
      const transfer = req.op === "append" ? [req.packed.data.buffer as ArrayBuffer] : [];
      this.worker.postMessage({ ...req, id }, transfer);
    });
    if (res.error) {
      const err = Object.assign(new Error(res.error.message), { code: res.error.code });
      // why: a read-only file, a full disk or a lock held too long is an outage, not a bug.
      if (UNAVAILABLE_CODES.test(res.error.code)) throw storeUnavailable(err);
      throw err;
    }
    return res.result as NonNullable<WorkerResponse["result"]>;
  }

  async terminate(): Promise<void> {
    this.failure ??= new Error("store closed");
    await this.worker.terminate();
  }
}

function pack(groups: readonly (readonly NewEvent[])[]): PackedGroups {
  let total = 0;
  let count = 0;
  for (const g of groups) for (const e of g) (total += e.bytes.length), count++;
  const p: PackedGroups = {
    data: new Uint8Array(total),
    ends: new Uint32Array(count),
    sizes: Uint32Array.from(groups, (g) => g.length),
    ids: new Array<string>(count),
    types: new Array<string>(count),
    sources: new Array<string>(count),
    subjects: new Array<string>(count),
    correlationIds: new Array<string>(count),
    fillTime: new Uint8Array(count),
  };
  let i = 0;
  let end = 0;
  for (const g of groups) {
    for (const e of g) {
      p.data.set(e.bytes, end);
      end += e.bytes.length;
      p.ends[i] = end;
      p.ids[i] = e.id;
      p.types[i] = e.type;
      p.sources[i] = e.source;
      p.subjects[i] = e.subject;
      p.correlationIds[i] = e.correlationId;
      p.fillTime[i] = e.fillTime ? 1 : 0;
      i++;
    }
  }
  return p;
}

function unpack(rows: WorkerRows): StoredEvent[] {
  const out = new Array<StoredEvent>(rows.positions.length);
  let start = 0;
  for (let i = 0; i < out.length; i++) {
    const end = rows.ends[i] ?? start;
    out[i] = { position: rows.positions[i] ?? "", recordedUs: rows.recordedUs[i] ?? 0, data: rows.data.subarray(start, end) };
    start = end;
  }
  return out;
}

/** The embedded store: one SQLite file in WAL mode, driven from two worker threads. */
class SqliteStore implements EventStore {
  readonly kind = "sqlite";
  // The writer thread handles messages in order, so a second append can wait in its queue.
  readonly appendPipeline = 2;
  private readonly stopTimer: () => void;
  private readonly checkpoints: CheckpointPolicy;
  private closing = false;
  onCheckpoint: ((c: CheckpointTiming) => void) | undefined;

  constructor(
    private readonly writer: WorkerChannel,
    private readonly reader: WorkerChannel,
    private readonly log: Logger,
    private readonly file: string,
    policy: CheckpointPolicyOptions,
    clock: Clock,
  ) {
    this.checkpoints = new CheckpointPolicy(clock, policy);
    this.stopTimer = clock.every(Math.max(1, policy.quietMs / 2), () => this.checkpointIfDue());
  }

  /**
   * A checkpoint in two passes: the reader thread copies what the WAL holds while commits go on;
   * then, if commits added frames meanwhile, the writer thread copies them between two commits. Nothing is
   * appended during that second pass, so it finishes, and the next commit starts the WAL over from
   * its beginning (overwriting it instead of growing it).
   */
  private checkpointIfDue(): void {
    if (this.closing || !this.checkpoints.due()) return;
    this.checkpoints.started();
    void (async () => {
      let left = 0;
      try {
        const writes = this.writer.busy ? -1 : this.writer.calls;
        const bulk = (await this.reader.call({ op: "checkpoint" })) as CheckpointTiming;
        this.onCheckpoint?.(bulk);
        // why: a reader's checkpoint counts only the frames there when it began; it copied the
        // whole WAL only if the writer did nothing meanwhile (within this process: another
        // process sharing the file can leave the WAL to the next checkpoint).
        const whole = bulk.complete && writes === this.writer.calls && !this.writer.busy;
        const finish = whole ? bulk : ((await this.writer.call({ op: "checkpoint" })) as CheckpointTiming);
        if (finish !== bulk) this.onCheckpoint?.(finish);
        left = finish.walFrames - finish.backfilled;
      } catch (err) {
        // why: closing ends the workers under a checkpoint; close() itself checkpoints the WAL.
        if (!this.closing) this.log.warn({ err }, "wal checkpoint failed");
        left = 1;
      } finally {
        this.checkpoints.finished(left);
      }
    })();
  }

  async sizeBytes(): Promise<number> {
    // why: the WAL holds commits not yet checkpointed into the file; an absent WAL counts as 0.
    const sizes = await Promise.all(["", "-wal"].map((suffix) => stat(`${this.file}${suffix}`).then((s) => s.size, () => 0)));
    return sizes.reduce((a, b) => a + b, 0);
  }

  async append(groups: readonly (readonly NewEvent[])[], timing?: CommitTiming): Promise<GroupOutcome[]> {
    const packed = pack(groups);
    const events = packed.ends.length;
    const result = (await this.writer.call({ op: "append", packed })) as WorkerAppendResult;
    if (timing) Object.assign(timing, result.timing);
    this.checkpoints.committed(events);
    this.checkpointIfDue();
    return result.groups.map((o, g) => {
      if (!o.ok) return o;
      const group = groups[g] as readonly NewEvent[];
      const stored = new Map(o.stored.map((d) => [d.index, d]));
      const fresh = new Map<string, Appended>();
      const events = group.map((e, j): Appended => {
        const position = encodePosition(o.seqs[j] as number);
        const before = stored.get(j);
        if (before) return { position, recordedUs: before.recordedUs, duplicate: true, data: before.data };
        const first = fresh.get(e.id);
        if (first) return { ...first, duplicate: true }; // a repeat within the group
        // New events share the commit's recorded time; their bytes are rebuilt here with the same
        // suffix function, which is cheaper than copying them back across threads.
        const a = { position, recordedUs: result.recordedUs, duplicate: false, data: withSuffix(e.bytes, result.recordedUs, position, e.fillTime) };
        fresh.set(e.id, a);
        return a;
      });
      return { ok: true as const, events };
    });
  }

  async get(id: string): Promise<StoredEvent | undefined> {
    return unpack((await this.reader.call({ op: "get", eventId: id })) as WorkerRows)[0];
  }

  // A SQLite statement cannot be stopped once the worker runs it; a caller that is already gone
  // does not start one.
  async scan(query: ScanQuery, limits?: ReadLimits): Promise<StoredEvent[]> {
    limits?.signal?.throwIfAborted();
    if (query.filter.where) return scanAllWhere(this, query, limits);
    return unpack((await this.reader.call({ op: "scan", query })) as WorkerRows);
  }

  async scanWhere(query: WhereScanQuery, limits?: ReadLimits): Promise<WherePage> {
    limits?.signal?.throwIfAborted();
    const page = (await this.reader.call({ op: "scanWhere", query })) as WorkerWherePage;
    // why: evaluation errors are counted in the reader thread; the metric lives in this one.
    addWhereEvalErrors(page.errors);
    return { events: unpack(page), matched: page.matched, scannedTo: page.scannedTo, done: page.done, errors: page.errors };
  }

  async count(range: StoreRange, limits?: ReadLimits): Promise<number> {
    limits?.signal?.throwIfAborted();
    if (range.filter.where) return countAllWhere(this, range, limits);
    return (await this.reader.call({ op: "count", range })) as number;
  }

  async headPosition(): Promise<string> {
    const last = (await this.reader.call({ op: "head" })) as number;
    return last === 0 ? "" : encodePosition(last);
  }

  /**
   * One chunk per message to the writer: commits handed over meanwhile run between two chunks, so
   * expiring a large backlog never holds a publish for longer than one chunk.
   */
  async expire(beforeUs: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.writer.call({ op: "expire", beforeUs })) as number;
      total += n;
      // Deleting writes WAL pages too (about as many as inserting).
      if (n > 0) this.checkpoints.committed(n);
      if (n < EXPIRE_CHUNK) return total;
    }
  }

  async ping(): Promise<void> {
    await this.reader.call({ op: "ping" });
  }

  async kvGet(key: string): Promise<Uint8Array | undefined> {
    return ((await this.reader.call({ op: "kvGet", key })) as KvEntry[])[0]?.value;
  }

  async kvScan(prefix: string, page: KvPage = {}): Promise<KvEntry[]> {
    return (await this.reader.call({ op: "kvScan", prefix, after: page.after, limit: page.limit })) as KvEntry[];
  }

  async kvKeys(prefix: string, page: KvPage = {}): Promise<string[]> {
    return (await this.reader.call({ op: "kvKeys", prefix, after: page.after, limit: page.limit })) as string[];
  }

  async kvCount(prefix: string): Promise<number> {
    return (await this.reader.call({ op: "kvCount", prefix })) as number;
  }

  async kvWrite(entries: readonly KvWrite[], expect?: KvExpect): Promise<boolean> {
    if (entries.length === 0 && !expect) return true;
    const written = (await this.writer.call({ op: "kvWrite", entries: [...entries], expect })) === 1;
    this.checkpoints.committed(entries.length);
    return written;
  }

  async close(): Promise<void> {
    this.closing = true;
    this.stopTimer();
    // One after the other: the last connection to close checkpoints the WAL into the database and
    // removes it, and two closing at once can each see the other still open and both skip it.
    await this.reader.call({ op: "close" }).catch(() => undefined);
    await this.writer.call({ op: "close" }).catch(() => undefined);
    await Promise.all([this.writer.terminate(), this.reader.terminate()]);
  }
}

/**
 * Opens (creating if needed) `<dataDir>/events.db`. Several broker processes on one machine may
 * share the file: SQLite serialises their commits and positions stay gap-free in commit order.
 * @throws DomainError STORE_UNAVAILABLE when the file cannot be opened
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<EventStore> {
  mkdirSync(options.dataDir, { recursive: true });
  const file = join(options.dataDir, DB_FILE_NAME);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5_000;
  const writer = new WorkerChannel({ file, role: "writer", sync: options.sync, busyTimeoutMs }, options.log);
  // The writer creates the schema; the reader opens the file only once it exists.
  await writer.call({ op: "ping" });
  const reader = new WorkerChannel({ file, role: "reader", sync: options.sync, busyTimeoutMs }, options.log);
  await reader.call({ op: "ping" });
  return new SqliteStore(writer, reader, options.log, file, options.checkpoints ?? DEFAULT_CHECKPOINT_POLICY, options.clock ?? systemClock);
}
