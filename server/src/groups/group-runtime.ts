import { fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import { OrderingMode, type Attempt, type ConsumerGroup, type PendingRecord } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { AttemptSchema } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { create } from "@bufbuild/protobuf";
import type { EventStore, KvWrite } from "../store/event-store.js";
import { decodePosition } from "../store/position.js";
import { systemClock, type Clock } from "../clock.js";
import { singleField, Wire } from "../services/wire.js";
import { backoffMs, type GroupSettings } from "./group-config.js";
import { deadLetterRecord, groupKey, pendingRecord, type StoredGroup } from "./group-records.js";

/** How many unfinished events a group holds in memory by default; beyond it, it stops reading ahead. */
export const DEFAULT_WINDOW_EVENTS = 10_000;
const SWEEP_MS = 20;
const FLUSH_MS = 50;

/** One matching event the group has not finished with. */
export interface Entry {
  /** The feed's own handle on the event (a JetStream message), if any. */
  handle?: unknown;
  readonly seq: bigint;
  readonly position: string;
  readonly data: Uint8Array;
  readonly type: string;
  readonly subject: string;
  readonly correlationId: string;
  /** The ordering key (subject or correlation id), "" without ordering. */
  key: string;
  readonly recordedUs: number;
  /** Deliveries made so far. */
  attempts: number;
  history: Attempt[];
  state: "ready" | "inflight" | "waiting";
  nextAtMs?: number | undefined;
  delivery?: { id: string; member: Member; deadlineMs: number } | undefined;
  /** Put back from the dead letters: not covered by the ack floor. */
  redriven: boolean;
}

/** A connected member of the group. */
export class Member {
  readonly inFlight = new Set<Entry>();
  acked = 0;
  nacked = 0;
  readonly connectTime = Date.now();
  constructor(
    readonly id: string,
    readonly maxInFlight: number,
    readonly peer: string,
    /** Sends one encoded ConsumeResponse to the member. */
    readonly send: (frame: Uint8Array) => void,
  ) {}
}

/** A min-heap of entries by position. */
class ReadyHeap {
  private readonly a: Entry[] = [];
  get size(): number {
    return this.a.length;
  }
  push(e: Entry): void {
    const a = this.a;
    a.push(e);
    for (let i = a.length - 1; i > 0; ) {
      const p = (i - 1) >> 1;
      if ((a[p] as Entry).seq <= (a[i] as Entry).seq) break;
      [a[p], a[i]] = [a[i] as Entry, a[p] as Entry];
      i = p;
    }
  }
  pop(): Entry | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && (a[l] as Entry).seq < (a[m] as Entry).seq) m = l;
        if (r < a.length && (a[r] as Entry).seq < (a[m] as Entry).seq) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i] as Entry, a[m] as Entry];
        i = m;
      }
    }
    return top;
  }
}

/** ConsumeResponse{delivery{delivery_id, event, attempt, deadline}}, assembled from stored bytes. */
function deliveryFrame(id: string, data: Uint8Array, attempt: number, deadlineMs: number): Uint8Array {
  const delivery = new Wire(data.length + 64).string(1, id).bytes(2, data).varint(3, attempt).timestampUs(4, deadlineMs * 1000).finish();
  return singleField(2, delivery);
}

/** Attempt state carried over a restart or a redrive. */
export interface Restored {
  attempts: number;
  history: Attempt[];
  redriven: boolean;
  nextAtMs?: number | undefined;
}

export function restoredOf(p: PendingRecord): Restored {
  return { attempts: p.attempts, history: [...p.history], redriven: p.redriven, nextAtMs: p.nextAttemptTime ? timestampMs(p.nextAttemptTime) : undefined };
}

/** What a feed sees of the runtime it feeds. */
export interface FeedSink {
  /**
   * Adds an event to the window (no-op when it is there already, except for a new handle). Without
   * `recordedUs`, it is read from the event, which the runtime decodes anyway.
   */
  admit(position: string, data: Uint8Array, recordedUs: number | undefined, handle?: unknown, restored?: Restored): void;
  /** Events in the window now. */
  readonly windowSize: number;
  /** Most events the window holds. */
  readonly windowLimit: number;
  /** How many more deliveries the members could take now. */
  readonly demand: number;
  /** The lowest unfinished position in the window that is not a redrive (for the ack floor). */
  minUnfinishedSeq(): bigint | undefined;
  schedulePump(): void;
}

/**
 * Where a group's events come from and where their outcome goes: the store and the live hub
 * (embedded), or a JetStream durable consumer (with NATS). The runtime does the rest: members,
 * ordering, deadlines, attempts, dead letters.
 */
export interface GroupFeed {
  start(sink: FeedSink): Promise<void>;
  /** Room in the window: read more. */
  pull(): void;
  /** Acknowledged, or parked as a dead letter. */
  finished(entry: Entry, how: "acked" | "parked"): void;
  /**
   * Retry after `delayMs`. Returns false when the runtime should wait itself; true when the feed
   * takes care of it (the event comes back through admit()).
   */
  retryLater(entry: Entry, delayMs: number): boolean;
  /** The runtime still holds the event (an extended deadline, or an event waiting for its key). */
  keepAlive(entry: Entry): void;
  /** Puts redriven dead letters back in the flow. */
  redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[], sink: FeedSink): Promise<void>;
  /** Progress records to write with the next flush (none when the feed keeps its progress itself). */
  progress(): KvWrite[];
  /** Backlog (not finished, in the window or not read yet) and the ack floor position. */
  lag(): Promise<{ backlog: number; floor: string; oldestUs?: number | undefined }>;
  update(settings: GroupSettings): void;
  close(): Promise<void>;
}

export interface GroupRuntimeOptions {
  store: EventStore;
  log: Logger;
  feed: GroupFeed;
  /** Attempt state and dead letter count the group left in the store. */
  state: { pending: readonly PendingRecord[]; deadLetters: number };
  /** Most events held in memory (DEFAULT_WINDOW_EVENTS). */
  windowEvents?: number | undefined;
  /** The stored definition is no longer the one this runtime has (changed or deleted elsewhere). */
  onStale?: () => void;
  clock?: Clock;
}

/**
 * One consumer group at work inside a broker: a bounded window of events from its feed, handed to
 * members (oldest first, one key at a time when ordered), with answers, deadlines, retries and
 * dead letters. Attempt histories and dead letters are written to the store every few tens of
 * milliseconds; after a crash, unanswered events are delivered again (at-least-once).
 */
export class GroupRuntime implements FeedSink {
  private readonly entries = new Map<bigint, Entry>();
  private readonly ready = new ReadyHeap();
  private readonly keyQueues = new Map<string, bigint[]>();
  private readonly waiting = new Set<Entry>();
  private readonly members: Member[] = [];
  /** In-flight entries of members that left: redelivered once their deadline passes. */
  private readonly orphans = new Set<Entry>();
  private readonly restored = new Map<bigint, Restored>();
  private readonly writes = new Map<string, KvWrite>();
  private pumpScheduled = false;
  private rr = 0;
  private closed = false;
  /** Deliveries of an event delivered before, since this runtime started (a metrics counter). */
  redeliveries = 0;
  private readonly stopSweep: () => void;
  private readonly stopFlush: () => void;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;
  private lastKeepAlive = 0;
  private readonly store: EventStore;
  private readonly log: Logger;
  private readonly feed: GroupFeed;
  private readonly clock: Clock;
  private readonly onStale: () => void;
  readonly windowLimit: number;
  deadLetters: number;

  constructor(
    private definition: StoredGroup,
    private settings: GroupSettings,
    o: GroupRuntimeOptions,
  ) {
    this.store = o.store;
    this.log = o.log;
    this.feed = o.feed;
    this.clock = o.clock ?? systemClock;
    this.onStale = o.onStale ?? (() => undefined);
    this.windowLimit = o.windowEvents ?? DEFAULT_WINDOW_EVENTS;
    for (const p of o.state.pending) this.restored.set(decodePosition(p.position) ?? 0n, restoredOf(p));
    this.deadLetters = o.state.deadLetters;
    this.stopSweep = this.clock.every(SWEEP_MS, () => this.sweep());
    this.stopFlush = this.clock.every(FLUSH_MS, () => void this.flush());
  }

  get name(): string {
    return this.definition.group.name;
  }

  get config(): ConsumerGroup {
    return this.definition.group;
  }

  /** The definition this runtime runs, as stored. */
  get stored(): StoredGroup {
    return this.definition;
  }

  get windowSize(): number {
    return this.entries.size;
  }

  get demand(): number {
    let free = 0;
    for (const m of this.members) free += Math.max(0, m.maxInFlight - m.inFlight.size);
    return free;
  }

  async start(): Promise<void> {
    await this.feed.start(this);
    this.schedulePump();
  }

  /** Attempt state restored for a position at start-up or by a redrive, taken once. */
  takeRestored(seq: bigint): Restored | undefined {
    const r = this.restored.get(seq);
    this.restored.delete(seq);
    return r;
  }

  restoredRedrives(): [bigint, Restored][] {
    return [...this.restored].filter(([, r]) => r.redriven);
  }

  // ---- intake ---------------------------------------------------------------------------------

  admit(position: string, data: Uint8Array, recordedUs: number | undefined, handle?: unknown, restored?: Restored): void {
    const seq = decodePosition(position) ?? 0n;
    const known = this.entries.get(seq);
    if (known) {
      // The feed redelivers an event it was asked to retry (or whose deadline passed on its side).
      if (handle !== undefined) known.handle = handle;
      if (known.state === "waiting" && known.nextAtMs === Number.POSITIVE_INFINITY) this.wake(known);
      return;
    }
    const event = fromBinary(EventSchema, data);
    const record = restored ?? this.takeRestored(seq);
    const entry: Entry = {
      seq,
      position,
      data,
      type: event.type,
      subject: event.subject,
      correlationId: event.correlationId,
      key: "",
      recordedUs: recordedUs ?? (event.recordedTime ? timestampMs(event.recordedTime) * 1000 : 0),
      attempts: record?.attempts ?? 0,
      history: record ? [...record.history] : [],
      state: "ready",
      redriven: record?.redriven ?? false,
      handle,
    };
    entry.key = this.keyOf(entry);
    this.entries.set(seq, entry);
    const nextAt = record?.nextAtMs;
    if (nextAt !== undefined && nextAt > this.clock.now()) {
      entry.state = "waiting";
      entry.nextAtMs = nextAt;
      this.waiting.add(entry);
    }
    this.enqueueKey(entry);
  }

  minUnfinishedSeq(): bigint | undefined {
    let min: bigint | undefined;
    for (const e of this.entries.values()) if (!e.redriven && (min === undefined || e.seq < min)) min = e.seq;
    return min;
  }

  private keyOf(e: Entry): string {
    return this.settings.ordering === OrderingMode.SUBJECT ? e.subject : this.settings.ordering === OrderingMode.CORRELATION_ID ? e.correlationId : "";
  }

  private enqueueKey(entry: Entry): void {
    if (this.settings.ordering === OrderingMode.NONE) {
      if (entry.state === "ready") this.ready.push(entry);
      return;
    }
    const q = this.keyQueues.get(entry.key) ?? [];
    // Keys queue in position order; a redriven (older) entry goes to its place.
    let i = q.length;
    while (i > 0 && (q[i - 1] as bigint) > entry.seq) i--;
    q.splice(i, 0, entry.seq);
    this.keyQueues.set(entry.key, q);
    // A displaced head may still sit in the heap; dispatch skips it until it is the head again.
    if (i === 0 && entry.state === "ready") this.ready.push(entry);
  }

  private isHead(entry: Entry): boolean {
    return this.settings.ordering === OrderingMode.NONE || this.keyQueues.get(entry.key)?.[0] === entry.seq;
  }

  // ---- dispatch -------------------------------------------------------------------------------

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.dispatch();
      if (this.entries.size < this.windowLimit) this.feed.pull();
    });
  }

  private pickMember(): Member | undefined {
    for (let n = 0; n < this.members.length; n++) {
      const m = this.members[(this.rr + n) % this.members.length] as Member;
      if (m.inFlight.size < m.maxInFlight) {
        this.rr = (this.rr + n + 1) % this.members.length;
        return m;
      }
    }
    return undefined;
  }

  private dispatch(): void {
    for (;;) {
      if (this.ready.size === 0) return;
      const member = this.pickMember();
      if (!member) return;
      const entry = this.ready.pop() as Entry;
      // Stale heap items: finished, delivered or waiting meanwhile, or no longer their key's head.
      if (this.entries.get(entry.seq) !== entry || entry.state !== "ready" || !this.isHead(entry)) continue;
      this.deliver(entry, member);
    }
  }

  private deliver(entry: Entry, member: Member): void {
    entry.attempts++;
    if (entry.attempts > 1) this.redeliveries++;
    entry.state = "inflight";
    const deadlineMs = this.clock.now() + this.settings.ackDeadlineMs;
    const id = `${entry.position}.${entry.attempts}`;
    entry.delivery = { id, member, deadlineMs };
    member.inFlight.add(entry);
    member.send(deliveryFrame(id, entry.data, entry.attempts, deadlineMs));
  }

  // ---- answers --------------------------------------------------------------------------------

  /** The member's in-flight entry for a delivery id, or undefined when the answer is stale. */
  private owned(member: Member, deliveryId: string): Entry | undefined {
    const seq = decodePosition(deliveryId.split(".")[0] ?? "");
    const entry = seq === undefined ? undefined : this.entries.get(seq);
    return entry?.state === "inflight" && entry.delivery?.id === deliveryId && entry.delivery.member === member ? entry : undefined;
  }

  /** @returns the ids that were stale (redelivered meanwhile) */
  ack(member: Member, ids: readonly string[]): string[] {
    const stale: string[] = [];
    for (const id of ids) {
      const entry = this.owned(member, id);
      if (!entry) {
        stale.push(id);
        continue;
      }
      member.acked++;
      this.finish(entry, "acked");
    }
    this.schedulePump();
    return stale;
  }

  nack(member: Member, id: string, delayMs: number | undefined, error: string): boolean {
    const entry = this.owned(member, id);
    if (!entry) return false;
    member.nacked++;
    this.fail(entry, error || "nacked", delayMs);
    this.schedulePump();
    return true;
  }

  extend(member: Member, id: string, byMs: number | undefined): boolean {
    const entry = this.owned(member, id);
    if (!entry?.delivery) return false;
    entry.delivery.deadlineMs = this.clock.now() + (byMs ?? this.settings.ackDeadlineMs);
    this.feed.keepAlive(entry);
    return true;
  }

  reject(member: Member, id: string, error: string): boolean {
    const entry = this.owned(member, id);
    if (!entry) return false;
    member.nacked++;
    this.recordAttempt(entry, error || "rejected");
    this.park(entry, "rejected");
    this.schedulePump();
    return true;
  }

  private recordAttempt(entry: Entry, error: string): void {
    const member = entry.delivery?.member.id ?? "";
    entry.history.push(create(AttemptSchema, { attempt: entry.attempts, time: timestampFromMs(this.clock.now()), error, memberId: member }));
  }

  private release(entry: Entry): void {
    entry.delivery?.member.inFlight.delete(entry);
    entry.delivery = undefined;
    this.orphans.delete(entry);
  }

  /** A failed attempt: retry after a delay, or park after the last attempt. */
  private fail(entry: Entry, error: string, delayMs?: number): void {
    this.recordAttempt(entry, error);
    const retry = this.settings.retryOverrides.get(entry.type) ?? this.settings.retry;
    if (entry.attempts >= retry.maxAttempts) {
      this.park(entry, "max_attempts");
      return;
    }
    this.release(entry);
    const delay = delayMs ?? backoffMs(retry, entry.attempts);
    entry.state = "waiting";
    entry.nextAtMs = this.clock.now() + delay;
    this.persistPending(entry);
    // The entry stays in the window either way: it holds its key while it waits.
    if (this.feed.retryLater(entry, delay)) entry.nextAtMs = Number.POSITIVE_INFINITY;
    else this.waiting.add(entry);
  }

  private wake(e: Entry): void {
    this.waiting.delete(e);
    e.state = "ready";
    e.nextAtMs = undefined;
    if (this.isHead(e)) this.ready.push(e);
    this.schedulePump();
  }

  private park(entry: Entry, reason: string): void {
    this.writes.set(`dead/${this.name}/${entry.position}`, deadLetterRecord(this.name, entry.position, entry.data, entry.history, reason));
    this.deadLetters++;
    this.log.warn({ group: this.name, position: entry.position, type: entry.type, attempts: entry.attempts, reason }, "event parked as a dead letter");
    this.finish(entry, "parked");
  }

  /** Acknowledged or parked: out of the window, and the key's next event may go. */
  private finish(entry: Entry, how: "acked" | "parked"): void {
    this.release(entry);
    this.waiting.delete(entry);
    this.entries.delete(entry.seq);
    if (entry.redriven || entry.history.length > 0) this.writes.set(`pending/${this.name}/${entry.position}`, { key: `pending/${this.name}/${entry.position}`, value: null });
    this.feed.finished(entry, how);
    if (this.settings.ordering !== OrderingMode.NONE) {
      const q = this.keyQueues.get(entry.key);
      const i = q?.indexOf(entry.seq) ?? -1;
      if (q && i >= 0) q.splice(i, 1);
      if (q && q.length === 0) this.keyQueues.delete(entry.key);
      const next = q?.[0] === undefined ? undefined : this.entries.get(q[0]);
      if (i === 0 && next?.state === "ready") this.ready.push(next);
    }
    this.dirty = true;
  }

  private persistPending(entry: Entry): void {
    this.writes.set(`pending/${this.name}/${entry.position}`, pendingRecord(this.name, entry));
    this.dirty = true;
  }

  // ---- timers ---------------------------------------------------------------------------------

  private sweep(): void {
    const now = this.clock.now();
    for (const m of this.members) {
      for (const e of m.inFlight) if (e.delivery && e.delivery.deadlineMs <= now) this.fail(e, "ack deadline exceeded");
    }
    for (const e of this.orphans) {
      if (e.delivery && e.delivery.deadlineMs <= now) this.fail(e, "ack deadline exceeded (member disconnected)");
    }
    for (const e of this.waiting) if ((e.nextAtMs ?? 0) <= now) this.wake(e);
    // Events the runtime holds without a member on them (waiting for their key, or for a member)
    // must not time out on the feed's side.
    if (now - this.lastKeepAlive >= Math.min(5_000, this.settings.ackDeadlineMs / 3)) {
      this.lastKeepAlive = now;
      for (const e of this.entries.values()) if (e.state === "ready") this.feed.keepAlive(e);
    }
  }

  // ---- members --------------------------------------------------------------------------------

  join(member: Member): void {
    this.members.push(member);
    this.schedulePump();
  }

  leave(member: Member): void {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    for (const e of member.inFlight) this.orphans.add(e);
    member.inFlight.clear();
  }

  get memberList(): readonly Member[] {
    return this.members;
  }

  // ---- persistence ----------------------------------------------------------------------------

  /**
   * Writes attempt histories, dead letters and progress, only while the stored definition is still
   * the one this runtime runs: progress never overwrites a definition, and a group deleted or
   * changed on another replica gets nothing written for its old definition.
   */
  async flush(): Promise<void> {
    // Nothing new: still wait for a write under way (a timer's flush may have taken the last changes).
    if (!this.dirty && this.writes.size === 0) return this.flushing;
    await this.flushing;
    this.dirty = false;
    const batch = [...this.writes.values(), ...this.feed.progress()];
    this.writes.clear();
    const keep = () => {
      for (const w of batch) if (!this.writes.has(w.key)) this.writes.set(w.key, w);
      this.dirty = true;
    };
    this.flushing = this.store.kvWrite(batch, { key: groupKey(this.name), value: this.definition.bytes }).then(
      (written) => {
        if (written) return;
        // Kept: with the definition changed, the next flush writes them; with it deleted, they go with the runtime.
        keep();
        this.log.debug({ group: this.name }, "group definition changed in the store; progress waits for it");
        this.onStale();
      },
      (err: unknown) => {
        // why: progress not written is progress redone after a restart (at-least-once), not lost.
        this.log.warn({ err, group: this.name }, "group progress not saved; will retry");
        keep();
      },
    );
    await this.flushing;
  }

  // ---- admin ----------------------------------------------------------------------------------

  update(definition: StoredGroup, settings: GroupSettings): void {
    const reorder = settings.ordering !== this.settings.ordering;
    this.definition = definition;
    this.settings = settings;
    this.feed.update(settings);
    this.dirty = true;
    if (reorder) {
      this.keyQueues.clear();
      for (const e of [...this.entries.values()].sort((a, b) => (a.seq < b.seq ? -1 : 1))) {
        e.key = this.keyOf(e);
        this.enqueueKey(e);
      }
    }
    this.schedulePump();
  }

  /** Puts dead letters back with fresh attempts. */
  async redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[]): Promise<void> {
    for (const l of letters) {
      this.writes.set(`dead/${this.name}/${l.position}`, { key: `dead/${this.name}/${l.position}`, value: null });
      const record: Restored = { attempts: 0, history: [], redriven: true };
      this.writes.set(`pending/${this.name}/${l.position}`, pendingRecord(this.name, { position: l.position, ...record }));
      this.restored.set(decodePosition(l.position) ?? 0n, record);
      this.deadLetters--;
    }
    this.dirty = true;
    await this.flush();
    await this.feed.redrive(letters, this);
    this.schedulePump();
  }

  purged(count: number): void {
    this.deadLetters -= count;
  }

  async stats() {
    let inFlight = 0;
    let redriven = 0;
    let oldest: number | undefined;
    for (const e of this.entries.values()) {
      if (e.state === "inflight") inFlight++;
      if (e.redriven) redriven++;
      if (oldest === undefined || e.recordedUs < oldest) oldest = e.recordedUs;
    }
    const lag = await this.feed.lag();
    let retrying = 0;
    for (const e of this.entries.values()) if (e.state === "waiting") retrying++;
    return { floor: lag.floor, backlog: lag.backlog + redriven, inFlight, retrying, oldestUs: oldest ?? lag.oldestUs };
  }

  /** Stops; writes what is left unless the group is gone (`discard`). */
  async close(options: { discard?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.stopSweep();
    this.stopFlush();
    if (options.discard) this.writes.clear();
    else await this.flush();
    await this.flushing;
    await this.feed.close();
  }
}
