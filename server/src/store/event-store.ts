// The store contract: what the broker needs from a durable event log. Two implementations pass one
// contract test suite: SQLite (embedded default) and MongoDB.

/** An event ready to append: validated, canonically encoded, without broker-owned fields. */
export interface NewEvent {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  readonly correlationId: string;
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

/** Time limits a caller puts on one read. */
export interface ReadLimits {
  /** Aborts the read (the caller went away); the read rejects with the signal's reason. */
  signal?: AbortSignal | undefined;
  /** Absolute deadline, ms since the epoch (the call's deadline); the store stops working then. */
  deadlineMs?: number | undefined;
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
  append(groups: readonly (readonly NewEvent[])[]): Promise<GroupOutcome[]>;
  get(id: string): Promise<StoredEvent | undefined>;
  /** Events in position order (descending with newestFirst), at most `limit`. */
  scan(query: ScanQuery, limits?: ReadLimits): Promise<StoredEvent[]>;
  count(range: StoreRange, limits?: ReadLimits): Promise<number>;
  /** The last position assigned ("" when nothing was ever appended). */
  headPosition(): Promise<string>;
  /** Deletes events recorded before `beforeUs`; returns how many. */
  expire(beforeUs: number): Promise<number>;
  /** @throws DomainError STORE_UNAVAILABLE when the store does not answer */
  ping(): Promise<void>;
  /** A small record of broker state (consumer groups), or undefined. */
  kvGet(key: string): Promise<Uint8Array | undefined>;
  /**
   * Records whose key starts with `prefix`, in key order: all of them, or with `page` those after
   * the key `page.after` (when given), at most `page.limit`.
   */
  kvScan(prefix: string, page?: KvPage): Promise<KvEntry[]>;
  /** Writes records atomically; a null value deletes the key. Durable once resolved. */
  kvWrite(entries: readonly KvWrite[]): Promise<void>;
  close(): Promise<void>;
}
