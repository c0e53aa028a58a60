import { fromBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import { OrderingMode, type Attempt, type ConsumerGroup, type PendingRecord } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { AttemptSchema } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { create } from "@bufbuild/protobuf";
import type { EventStore, KvWrite } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import { matcher } from "../services/subscribe.js";
import { singleField, Wire } from "../services/wire.js";
import type { HubEvent, LiveHub } from "../services/live-hub.js";
import { backoffMs, type GroupSettings } from "./group-config.js";
import { deadLetterRecord, groupRecord, pendingRecord } from "./group-records.js";

/** How many unfinished events a group holds in memory; beyond it, it stops reading ahead. */
export const WINDOW = 10_000;
const FETCH_CHUNK = 256;
const SWEEP_MS = 20;
const FLUSH_MS = 50;

/** One matching event the group has not finished with. */
export interface Entry {
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

export interface RuntimeState {
  floor: bigint;
  doneAbove: readonly bigint[];
  pending: readonly PendingRecord[];
  deadLetters: number;
}

/**
 * One consumer group at work inside a broker: reads matching events from the store and the live
 * hub into a bounded window, hands them to members (oldest first, one key at a time when ordered),
 * and tracks answers, deadlines, retries and dead letters. Progress is written to the store every
 * few tens of milliseconds; after a crash, unanswered events are delivered again (at-least-once).
 */
export class GroupRuntime {
  private readonly entries = new Map<bigint, Entry>();
  private readonly ready = new ReadyHeap();
  private readonly keyQueues = new Map<string, bigint[]>();
  private readonly waiting = new Set<Entry>();
  private readonly members: Member[] = [];
  private readonly doneAbove = new Set<bigint>();
  private readonly restored = new Map<bigint, Restored>();
  private readonly writes = new Map<string, KvWrite>();
  private matches: (m: { type: string; source: string; subject: string; correlationId: string }) => boolean;
  private cursor: bigint;
  private floor: bigint;
  private fetching = false;
  private behind = true;
  private pumpScheduled = false;
  private rr = 0;
  private closed = false;
  private readonly detach: () => void;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly flushTimer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;
  deadLetters: number;

  constructor(
    private readonly store: EventStore,
    private readonly hub: LiveHub,
    private readonly log: Logger,
    private group: ConsumerGroup,
    private settings: GroupSettings,
    state: RuntimeState,
  ) {
    this.matches = matcher(settings.filter);
    this.floor = state.floor;
    this.cursor = state.floor;
    for (const s of state.doneAbove) this.doneAbove.add(s);
    for (const p of state.pending) this.restored.set(decodePosition(p.position) ?? 0n, restoredOf(p));
    this.deadLetters = state.deadLetters;
    this.detach = hub.attach((e) => this.onLive(e));
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.flushTimer = setInterval(() => void this.flush(), FLUSH_MS);
    this.sweepTimer.unref();
    this.flushTimer.unref();
  }

  get name(): string {
    return this.group.name;
  }

  get config(): ConsumerGroup {
    return this.group;
  }

  /** Loads redriven entries (older than the floor), then starts reading. */
  async start(): Promise<void> {
    for (const [seq, p] of [...this.restored]) {
      if (!p.redriven || seq > this.floor) continue;
      const [row] = await this.store.scan({ filter: {}, afterPosition: encodePosition(seq - 1n), beforePosition: encodePosition(seq + 1n), limit: 1 });
      this.restored.delete(seq);
      if (row) this.admit(row.position, row.data, row.recordedUs, p);
    }
    this.schedulePump();
  }

  // ---- intake ---------------------------------------------------------------------------------

  private onLive(e: HubEvent): void {
    // Consecutive with what the group has read, and room in the window: take it from the hub.
    if (!this.fetching && !this.behind && e.seq === this.cursor + 1n && this.entries.size < WINDOW) {
      this.cursor = e.seq;
      if (this.matches(e.meta) && !this.doneAbove.has(e.seq)) this.admit(e.position, e.data, e.recordedUs);
      this.schedulePump();
      return;
    }
    this.behind = true;
    this.schedulePump();
  }

  private admit(position: string, data: Uint8Array, recordedUs: number, restored?: Restored): void {
    const seq = decodePosition(position) ?? 0n;
    if (this.entries.has(seq)) return;
    const event = fromBinary(EventSchema, data);
    const record = restored ?? this.restored.get(seq);
    this.restored.delete(seq);
    const entry: Entry = {
      seq,
      position,
      data,
      type: event.type,
      subject: event.subject,
      correlationId: event.correlationId,
      key: "",
      recordedUs,
      attempts: record?.attempts ?? 0,
      history: record ? [...record.history] : [],
      state: "ready",
      redriven: record?.redriven ?? false,
    };
    entry.key = this.keyOf(entry);
    this.entries.set(seq, entry);
    const nextAt = record?.nextAtMs;
    if (nextAt !== undefined && nextAt > Date.now()) {
      entry.state = "waiting";
      entry.nextAtMs = nextAt;
      this.waiting.add(entry);
    }
    this.enqueueKey(entry);
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

  private async fetch(): Promise<void> {
    this.fetching = true;
    try {
      while (this.behind && this.entries.size < WINDOW && !this.closed) {
        const head = this.hub.lastSeq;
        if (this.cursor >= head) {
          this.behind = false;
          break;
        }
        const rows = await this.store.scan({ filter: this.settings.filter, afterPosition: encodePosition(this.cursor), beforePosition: encodePosition(head + 1n), limit: FETCH_CHUNK });
        for (const r of rows) {
          const seq = decodePosition(r.position) ?? 0n;
          if (!this.doneAbove.has(seq)) this.admit(r.position, r.data, r.recordedUs);
        }
        this.cursor = rows.length === FETCH_CHUNK ? (decodePosition(rows.at(-1)?.position ?? "") ?? head) : head;
        this.dispatch();
      }
    } catch (err) {
      this.log.warn({ err, group: this.name }, "group could not read the store; retrying");
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      this.fetching = false;
    }
    this.schedulePump();
  }

  // ---- dispatch -------------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.dispatch();
      if (this.behind && !this.fetching && this.entries.size < WINDOW) void this.fetch();
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
    entry.state = "inflight";
    const deadlineMs = Date.now() + this.settings.ackDeadlineMs;
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
      this.finish(entry);
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
    entry.delivery.deadlineMs = Date.now() + (byMs ?? this.settings.ackDeadlineMs);
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
    entry.history.push(create(AttemptSchema, { attempt: entry.attempts, time: timestampFromMs(Date.now()), error, memberId: member }));
  }

  private release(entry: Entry): void {
    entry.delivery?.member.inFlight.delete(entry);
    entry.delivery = undefined;
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
    entry.state = "waiting";
    entry.nextAtMs = Date.now() + (delayMs ?? backoffMs(retry, entry.attempts));
    this.waiting.add(entry);
    this.persistPending(entry);
  }

  private park(entry: Entry, reason: string): void {
    this.writes.set(`dead/${this.name}/${entry.position}`, deadLetterRecord(this.name, entry.position, entry.data, entry.history, reason));
    this.deadLetters++;
    this.log.warn({ group: this.name, position: entry.position, type: entry.type, attempts: entry.attempts, reason }, "event parked as a dead letter");
    this.finish(entry);
  }

  /** Acknowledged or parked: out of the window, and the key's next event may go. */
  private finish(entry: Entry): void {
    this.release(entry);
    this.waiting.delete(entry);
    this.entries.delete(entry.seq);
    if (entry.redriven || entry.history.length > 0) this.writes.set(`pending/${this.name}/${entry.position}`, { key: `pending/${this.name}/${entry.position}`, value: null });
    if (!entry.redriven) this.doneAbove.add(entry.seq);
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
    const now = Date.now();
    let changed = false;
    for (const m of this.members) {
      for (const e of m.inFlight) {
        if (e.delivery && e.delivery.deadlineMs <= now) {
          this.fail(e, "ack deadline exceeded");
          changed = true;
        }
      }
    }
    for (const e of this.orphans) {
      if (e.delivery && e.delivery.deadlineMs <= now) {
        this.orphans.delete(e);
        this.fail(e, "ack deadline exceeded (member disconnected)");
        changed = true;
      }
    }
    for (const e of this.waiting) {
      if ((e.nextAtMs ?? 0) <= now) {
        this.waiting.delete(e);
        e.state = "ready";
        e.nextAtMs = undefined;
        if (this.isHead(e)) this.ready.push(e);
        changed = true;
      }
    }
    if (changed) this.schedulePump();
  }

  /** In-flight entries of members that left: redelivered once their deadline passes. */
  private readonly orphans = new Set<Entry>();

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

  /** Everything at or below this position is done. */
  ackFloor(): bigint {
    let min: bigint | undefined;
    for (const e of this.entries.values()) if (!e.redriven && (min === undefined || e.seq < min)) min = e.seq;
    return min === undefined ? this.cursor : min - 1n;
  }

  async flush(): Promise<void> {
    if (!this.dirty && this.writes.size === 0) return;
    await this.flushing;
    this.dirty = false;
    const floor = this.ackFloor();
    if (floor > this.floor) this.floor = floor;
    for (const s of this.doneAbove) if (s <= this.floor) this.doneAbove.delete(s);
    const batch = [...this.writes.values(), groupRecord(this.group, encodePosition(this.floor), [...this.doneAbove].map(encodePosition))];
    this.writes.clear();
    this.flushing = this.store.kvWrite(batch).catch((err: unknown) => {
      // why: progress not written is progress redone after a restart (at-least-once), not lost.
      this.log.warn({ err, group: this.name }, "group progress not saved; will retry");
      for (const w of batch) if (!this.writes.has(w.key)) this.writes.set(w.key, w);
      this.dirty = true;
    });
    await this.flushing;
  }

  // ---- admin ----------------------------------------------------------------------------------

  update(group: ConsumerGroup, settings: GroupSettings): void {
    const reorder = settings.ordering !== this.settings.ordering;
    this.group = group;
    this.settings = settings;
    this.matches = matcher(settings.filter);
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
  redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[]): void {
    for (const l of letters) {
      this.writes.set(`dead/${this.name}/${l.position}`, { key: `dead/${this.name}/${l.position}`, value: null });
      const record: Restored = { attempts: 0, history: [], redriven: true };
      this.writes.set(`pending/${this.name}/${l.position}`, pendingRecord(this.name, { position: l.position, ...record }));
      this.deadLetters--;
      this.admit(l.position, l.data, l.recordedUs, record);
    }
    this.dirty = true;
    this.schedulePump();
  }

  purged(count: number): void {
    this.deadLetters -= count;
  }

  stats() {
    let inFlight = 0;
    let redriven = 0;
    for (const e of this.entries.values()) {
      if (e.state === "inflight") inFlight++;
      if (e.redriven) redriven++;
    }
    let oldest: number | undefined;
    for (const e of this.entries.values()) if (oldest === undefined || e.recordedUs < oldest) oldest = e.recordedUs;
    const floor = this.ackFloor();
    let doneAbove = 0;
    for (const d of this.doneAbove) if (d > floor) doneAbove++;
    return { floor, doneAbove, inFlight, redriven, retrying: this.waiting.size, oldestUs: oldest };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.detach();
    clearInterval(this.sweepTimer);
    clearInterval(this.flushTimer);
    await this.flush();
  }
}
