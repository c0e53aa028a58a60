// The store contract: what the broker needs from a durable event log. Two implementations pass one
// contract test suite: SQLite (embedded default) and MongoDB.
import type { WhereSpec } from "../cel/cel-where.js";

/** An event ready to append: validated, canonically encoded, without broker-owned fields. */
export interface NewEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  readonly correlationId: string;
  /** The envelope's W3C traceparent ("" or absent when none), for trace headers on fan-out. */
  readonly traceparent?: string;
  /** The envelope as the producer sent it (canonical encoding), without recorded_time/position. */
  readonly bytes: Uint8Array;
  /** The producer sent no `time`: the store sets it to the recorded time. */
  readonly fillTime: boolean;
}

/** An event as stored: the full envelope bytes (broker fields included) and its place in the log. */
export interface StoredEvent {
  /** Opaque ordered token; see position.ts. */
  readonly position: string;
  /** recorded_time in microseconds since the epoch; never decreases along positions. */
  readonly recordedUs: number;
  /** The envelope, encoded once, with recorded_time and position (and time if it was filled). */
  readonly data: Uint8Array;
}

/** The outcome of one event of an appended group. */
export interface Appended extends StoredEvent {
  /** The id was stored before with the same content; `data`/`position` are the stored event's. */
  readonly duplicate: boolean;
}

/**
 * The outcome of one group. Groups are atomic: a group whose id collides with a different stored
 * content (or with a different event of the same group) is not written at all.
 */
export type GroupOutcome =
  | { readonly ok: true; readonly events: readonly Appended[] }
  | { readonly ok: false; readonly conflict: { readonly index: number; readonly id: string; readonly position: string } };

/** A filter compiled to exact values the stores can index. */
export interface StoreFilter {
  /** Exact types to match; undefined matches every type, [] matches none. */
  readonly types?: readonly string[];
  readonly sources?: readonly string[];
  readonly subject?: { readonly exact: string } | { readonly prefix: string };
  readonly correlationId?: string;
  /** A CEL expression the events the fields above let through must satisfy (see cel-where.ts). */
  readonly where?: WhereSpec;
}

/** Bounds shared by scans and counts. */
export interface StoreRange {
  readonly filter: StoreFilter;
  /** Inclusive lower bound on recorded time (µs). */
  readonly fromUs?: number;
  /** Exclusive upper bound on recorded time (µs). */
  readonly toUs?: number;
  /** Exclusive lower bound on position. */
  readonly afterPosition?: string;
  /** Exclusive upper bound on position. */
  readonly beforePosition?: string;
}

export interface ScanQuery extends StoreRange {
  readonly limit: number;
  readonly newestFirst?: boolean;
}

/** A scan with a `where` that examines at most `maxScanned` rows. */
export interface WhereScanQuery extends ScanQuery {
  readonly maxScanned: number;
  /** Count the matches without returning them. */
  readonly countOnly?: boolean;
}

/** What a bounded `where` scan found, and how far it got. */
export interface WherePage {
  /** Matching events, at most `limit` (none with countOnly). */
  readonly events: StoredEvent[];
  /** How many matched (with countOnly, the count). */
  readonly matched: number;
  /** The last position examined ("" when none): continue after (or before, newest first) it. */
  readonly scannedTo: string;
  /** Nothing is left in the range past `scannedTo`. */
  readonly done: boolean;
  /** Events whose evaluation failed (non-matches). */
  readonly errors: number;
}

/** A page of a key-value scan. */
export interface KvPage {
  /** Only keys after this one. */
  after?: string | undefined;
  limit?: number | undefined;
}

export interface KvEntry {
  readonly key: string;
  readonly value: Uint8Array;
}

export interface KvWrite {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** What a conditional write expects of one record: exactly `value`, or no record when null. */
export interface KvExpect {
  readonly key: string;
  readonly value: Uint8Array | null;
}

/** Time limits a caller puts on one read. */
export interface ReadLimits {
  /** Aborts the read (the caller went away); the read rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Absolute deadline, ms since the epoch (the call's deadline); the store stops working then. */
  deadlineMs?: number | undefined;
}

/**
 * Where the time of one store commit went, for traces: milliseconds with fractions on the host's
 * monotonic clock (process.hrtime), which every thread and process shares. A store that has no such
 * breakdown leaves the fields it cannot fill at 0.
 */
export interface CommitTiming {
  /** The store's thread took the commit up. */
  received: number;
  /** Its transaction began (the write lock held). */
  begun: number;
  /** The rows were written; the commit (WAL write and fsync) started. */
  committing: number;
  /** The commit returned: durable. */
  committed: number;
}

/** One WAL checkpoint: when, how long, and the WAL's size in frames (pages) before it and after it. */
export interface CheckpointTiming {
  start: number;
  end: number;
  /** Frames in the WAL when it started, and frames it copied into the database. */
  walFrames: number;
  backfilled: number;
  /** Whether the WAL can start over from its beginning (every frame copied). */
  complete: boolean;
}

/**
 * A durable, ordered event log with id-based deduplication.
 *
 * Reads are monotonic within one store instance: a read sees at least everything that any earlier
 * completed read or append of the same instance saw. In particular a scan that follows
 * `headPosition()` sees every event up to that head that retention has not expired, so a reader may
 * conclude "nothing there" from an empty scan below a head it read before.
 */
export interface EventStore {
  readonly kind: "sqlite" | "mongodb";
  /** Appends the store accepts at once (it commits them in the order given). Default 1. */
  readonly appendPipeline?: number;
  /**
   * Most producer bytes in one append (groups are never split: a single larger group goes alone).
   * Default: unbounded.
   */
  readonly maxCommitBytes?: number;
  /**
   * Appends groups of events in one commit where the store allows, assigning positions in commit
   * order. Resolves only once the events are durable.
   * @throws DomainError STORE_UNAVAILABLE when the store cannot be written (nothing is acknowledged)
   */
  append(groups: readonly (readonly NewEvent[])[], timing?: CommitTiming): Promise<GroupOutcome[]>;
  /** Diagnostics: called after each WAL checkpoint the store runs, when set. */
  onCheckpoint?: ((c: CheckpointTiming) => void) | undefined;
  get(id: string): Promise<StoredEvent | undefined>;
  /**
   * Events in position order (descending with newestFirst), at most `limit`. With `filter.where`,
   * only matching events, reading as far as it takes (callers serving clients use scanWhere).
   */
  scan(query: ScanQuery, limits?: ReadLimits): Promise<StoredEvent[]>;
  /** Matching events of a bounded stretch of the log: at most `limit` found, `maxScanned` read. */
  scanWhere(query: WhereScanQuery, limits?: ReadLimits): Promise<WherePage>;
  /** Matching events; with `filter.where`, every event of the range is read. */
  count(range: StoreRange, limits?: ReadLimits): Promise<number>;
  /** The last position assigned ("" when nothing was ever appended). */
  headPosition(): Promise<string>;
  /** Deletes events recorded before `beforeUs`; returns how many. */
  expire(beforeUs: number): Promise<number>;
  /** @throws DomainError STORE_UNAVAILABLE when the store does not answer */
  ping(): Promise<void>;
  /** Bytes the store takes on disk (data and indexes; for SQLite the file and its WAL). */
  sizeBytes(): Promise<number>;
  /** A small record of broker state (consumer groups), or undefined. */
  kvGet(key: string): Promise<Uint8Array | undefined>;
  /**
   * Records whose key starts with `prefix`, in key order: all of them, or with `page` those after
   * the key `page.after` (when given), at most `page.limit`.
   */
  kvScan(prefix: string, page?: KvPage): Promise<KvEntry[]>;
  /** Keys only (no values read), with the same order and paging as kvScan. */
  kvKeys(prefix: string, page?: KvPage): Promise<string[]>;
  /** How many records have a key starting with `prefix` (no values read). */
  kvCount(prefix: string): Promise<number>;
  /**
   * Writes records atomically; a null value deletes the key. Durable once resolved. With `expect`,
   * writes only if that record holds exactly the expected value (or is absent, for null) at commit,
   * and otherwise writes nothing: a compare-and-set, safe between brokers sharing the store.
   * @returns false when `expect` did not hold (nothing written), true otherwise
   */
  kvWrite(entries: readonly KvWrite[], expect?: KvExpect): Promise<boolean>;
  close(): Promise<void>;
}
