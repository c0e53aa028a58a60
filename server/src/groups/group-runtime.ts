import type { Logger } from "pino";
import type { ConsumerGroup } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { EventStore } from "../store/event-store.js";
import { decodePosition } from "../store/position.js";
import { systemClock, type Clock } from "../clock.js";
import { backoffMs, type GroupSettings } from "./group-config.js";
import { deliveryFrame, Member, MemberSet, newEntry, ReadyHeap, restoredOf, windowCounts, type Entry, type Restored } from "./group-entry.js";
import { DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_EVENTS, type FeedSink, type GroupFeed, type GroupRuntimeOptions } from "./group-feed.js";
import { deadLetterRecord, pendingPrefix, pendingRecord, redriveRecords, type StoredGroup } from "./group-records.js";
import { GroupWriter } from "./group-writer.js";
import { KeyOrder } from "./key-order.js";
import { expiredDeliveries, recordAttempt } from "./attempts.js";

export { MAX_ATTEMPT_ERROR_BYTES, MAX_ATTEMPTS_KEPT } from "./attempts.js";
export { Member, restoredOf, type Entry, type Restored } from "./group-entry.js";
export { DEFAULT_WINDOW_BYTES, DEFAULT_WINDOW_EVENTS, type FeedSink, type GroupFeed, type GroupRuntimeOptions } from "./group-feed.js";

const SWEEP_MS = 20;
const FLUSH_MS = 50;

/**
 * One consumer group at work inside a broker: a bounded window of events from its feed, handed to
 * members (oldest first, one key at a time when ordered), with answers, deadlines, retries and
 * dead letters. Attempt histories and dead letters are written to the store every few tens of
 * milliseconds; after a crash, unanswered events are delivered again (at-least-once).
 */
export class GroupRuntime implements FeedSink {
  private readonly entries = new Map<bigint, Entry>();
  private readonly ready = new ReadyHeap();
  private readonly waiting = new Set<Entry>();
  private readonly members = new MemberSet();
  /** In-flight entries of members that left: redelivered once their deadline passes. */
  private readonly orphans = new Set<Entry>();
  private readonly restored = new Map<bigint, Restored>();
  private pumpScheduled = false;
  private closed = false;
  /** Deliveries of an event delivered before, since this runtime started (a metrics counter). */
  redeliveries = 0;
  private readonly stopSweep: () => void;
  private readonly stopFlush: () => void;
  private readonly writer: GroupWriter;
  private readonly order: KeyOrder;
  private lastKeepAlive = 0;
  private readonly store: EventStore;
  private readonly log: Logger;
  private readonly feed: GroupFeed;
  private readonly clock: Clock;
  private readonly onStale: () => void;
  readonly windowLimit: number;
  readonly windowBytes: number;
  /** Bytes of the events in the window. */
  private bytes = 0;
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
    this.order = new KeyOrder(settings.ordering);
    this.writer = new GroupWriter(this.store, this.log, {
      name: definition.group.name,
      definition: () => this.definition.bytes,
      progress: () => this.feed.progress(),
      onStale: () => this.onStale(),
    });
    this.windowLimit = o.windowEvents ?? DEFAULT_WINDOW_EVENTS;
    this.windowBytes = o.windowBytes ?? DEFAULT_WINDOW_BYTES;
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

  /** Bytes of the events in the window now. */
  get windowBytesUsed(): number {
    return this.bytes;
  }

  get roomEvents(): number {
    if (this.members.all.length === 0 || this.bytes >= this.windowBytes) return 0;
    return Math.max(0, this.windowLimit - this.entries.size);
  }

  get roomBytes(): number {
    return Math.max(0, this.windowBytes - this.bytes);
  }

  /** No member, and nothing delivered that is still unanswered: the group may be put to rest. */
  get quiet(): boolean {
    return this.members.all.length === 0 && this.orphans.size === 0;
  }

  get demand(): number {
    return this.members.demand;
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
    const record = restored ?? this.takeRestored(seq);
    const entry = newEntry(seq, position, data, recordedUs, handle, record);
    entry.key = this.order.keyOf(entry);
    this.entries.set(seq, entry);
    this.bytes += data.length;
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

  private enqueueKey(entry: Entry): void {
    if (this.order.enqueue(entry) && entry.state === "ready") this.ready.push(entry);
  }

  // ---- dispatch -------------------------------------------------------------------------------

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.members.all.length === 0) this.releaseHeld();
      this.dispatch();
      if (this.roomEvents > 0) this.feed.pull();
    });
  }

  /**
   * Gives the events no member holds back to the feed when it takes them (JetStream), so that the
   * members of other replicas get them now: neither kept alive here with nobody to take them, nor
   * left to JetStream's ack wait when this runtime stops. In-flight events stay with their member.
   */
  private releaseHeld(): void {
    for (const e of [...this.entries.values()]) {
      const retrying = e.state === "waiting" && e.nextAtMs === Number.POSITIVE_INFINITY;
      if (e.state !== "ready" && !retrying) continue;
      if (!this.feed.release(e, retrying)) continue;
      this.drop(e);
      // Its attempts so far count when it comes back here (JetStream redelivers it to some replica).
      if (e.attempts > 0 || e.redriven) this.restored.set(e.seq, { attempts: e.attempts, history: e.history, redriven: e.redriven });
    }
  }

  private dispatch(): void {
    for (;;) {
      if (this.ready.size === 0) return;
      const member = this.members.pick();
      if (!member) return;
      const entry = this.ready.pop() as Entry;
      // Stale heap items: finished, delivered or waiting meanwhile, or no longer their key's head.
      if (this.entries.get(entry.seq) !== entry || entry.state !== "ready" || !this.order.isHead(entry)) continue;
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
    member.queued++;
    member.send(deliveryFrame(id, entry.data, entry.attempts, deadlineMs), () => entry.delivery?.id === id && this.entries.get(entry.seq) === entry);
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
    recordAttempt(entry, error || "rejected", this.clock.now());
    this.park(entry, "rejected");
    this.schedulePump();
    return true;
  }

  private release(entry: Entry): void {
    entry.delivery?.member.inFlight.delete(entry);
    entry.delivery = undefined;
    this.orphans.delete(entry);
  }

  /** A failed attempt: retry after a delay, or park after the last attempt. */
  private fail(entry: Entry, error: string, delayMs?: number): void {
    recordAttempt(entry, error, this.clock.now());
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
    if (this.order.isHead(e)) this.ready.push(e);
    this.schedulePump();
  }

  private park(entry: Entry, reason: string): void {
    this.writer.put(deadLetterRecord(this.name, entry.position, entry.data, entry.history, reason));
    this.deadLetters++;
    this.log.warn({ group: this.name, position: entry.position, type: entry.type, attempts: entry.attempts, reason }, "event parked as a dead letter");
    this.finish(entry, "parked");
  }

  /** Acknowledged or parked: out of the window, and the key's next event may go. */
  private finish(entry: Entry, how: "acked" | "parked"): void {
    if (entry.redriven || entry.history.length > 0) this.writer.put({ key: pendingPrefix(this.name) + entry.position, value: null });
    this.drop(entry);
    this.feed.finished(entry, how);
    this.writer.touch();
  }

  /** Out of the window (finished, or given back to the feed), and the key's next event may go. */
  private drop(entry: Entry): void {
    this.release(entry);
    this.waiting.delete(entry);
    if (this.entries.delete(entry.seq)) this.bytes -= entry.data.length;
    const head = this.order.remove(entry);
    const next = head === undefined ? undefined : this.entries.get(head);
    if (next?.state === "ready") this.ready.push(next);
  }

  private persistPending(entry: Entry): void {
    this.writer.put(pendingRecord(this.name, entry));
  }

  // ---- timers ---------------------------------------------------------------------------------

  private sweep(): void {
    const now = this.clock.now();
    let expired = false;
    // Collected first: a failure changes the sets being walked.
    for (const [e, why] of [...expiredDeliveries(this.members.all, this.orphans, now)]) {
      this.fail(e, why);
      expired = true;
    }
    // A delivery parked on its last attempt leaves room in the window: read on.
    if (expired) this.schedulePump();
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
    this.members.add(member);
    this.schedulePump();
  }

  leave(member: Member): void {
    this.members.remove(member);
    for (const e of member.inFlight) this.orphans.add(e);
    member.inFlight.clear();
    this.schedulePump();
  }

  get memberList(): readonly Member[] {
    return this.members.all;
  }

  // ---- persistence ----------------------------------------------------------------------------

  /** Writes attempt histories, dead letters and progress (see GroupWriter.flush). */
  flush(): Promise<void> {
    return this.writer.flush();
  }

  // ---- admin ----------------------------------------------------------------------------------

  update(definition: StoredGroup, settings: GroupSettings): void {
    const reorder = settings.ordering !== this.settings.ordering;
    this.definition = definition;
    this.settings = settings;
    this.feed.update(settings);
    this.writer.touch();
    if (reorder) for (const e of this.order.rebuild(settings.ordering, this.entries.values())) if (e.state === "ready") this.ready.push(e);
    this.schedulePump();
  }

  /** Puts dead letters back with fresh attempts. */
  async redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[]): Promise<void> {
    for (const l of letters) {
      const record: Restored = { attempts: 0, history: [], redriven: true };
      for (const w of redriveRecords(this.name, l.position)) this.writer.put(w);
      this.restored.set(decodePosition(l.position) ?? 0n, record);
      this.deadLetters--;
    }
    await this.flush();
    await this.feed.redrive(letters, this);
    this.schedulePump();
  }

  purged(count: number): void {
    this.deadLetters -= count;
  }

  async stats() {
    const w = windowCounts(this.entries.values());
    const lag = await this.feed.lag();
    return { floor: lag.floor, backlog: lag.backlog + w.redriven, inFlight: w.inFlight, retrying: w.retrying, oldestUs: w.oldestUs ?? lag.oldestUs };
  }

  /** Stops; writes what is left unless the group is gone (`discard`). */
  async close(options: { discard?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.stopSweep();
    this.stopFlush();
    if (options.discard) this.writer.discard();
    else {
      this.releaseHeld();
      await this.flush();
    }
    await this.writer.settled();
    await this.feed.close();
  }
}
