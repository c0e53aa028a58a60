import type { Logger } from "pino";
import { type ConsumerGroup, type DeadLetter, type DeadLetterSelector, type GroupStats } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { ErrorReason, LimitExceededSchema } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, pack } from "../errors.js";
import type { EventStore } from "../store/event-store.js";
import { encodePosition } from "../store/position.js";
import { listDeadLetters, purgeDeadLetters, redriveDeadLetters } from "./dead-letters.js";
import type { FeedFactory } from "./feed-factory.js";
import { normalized, settingsOf, type GroupSettings } from "./group-config.js";
import type { Member } from "./group-entry.js";
import type { GroupFeed } from "./group-feed.js";
import { deadPrefix, deleteGroupState, groupKey, loadGroups, loadPending, storedGroup, type StoredGroup } from "./group-records.js";
import { GroupRuntime, type GroupRuntimeOptions } from "./group-runtime.js";
import { GroupSlot, notFound, sameBytes, type SlotHost } from "./group-slot.js";
import { DEFAULT_GROUP_IDLE_MS, DEFAULT_MAX_GROUPS, DEFAULT_MEMBER_OUTBOX, groupStats, type GroupManagerOptions } from "./group-stats.js";

export { storeFeeds, startFloor, type FeedFactory } from "./feed-factory.js";
export { DEFAULT_DEAD_LETTER_PAGE } from "./dead-letters.js";

const SYNC_INTERVAL_MS = 2_000;
/** Tries of an update or delete that found the definition changed by another replica meanwhile. */
const CAS_TRIES = 5;

const sameIncarnation = (a: ConsumerGroup, b: ConsumerGroup) => a.createTime?.seconds === b.createTime?.seconds && a.createTime?.nanos === b.createTime?.nanos;

/** The broker's consumer groups: their definitions, runtimes and dead letters. */
export class GroupManager {
  private readonly slots = new Map<string, GroupSlot>();
  /** Members to disconnect when their group goes away. */
  private readonly onDelete = new Map<string, Set<() => void>>();
  private syncing: Promise<void> | undefined;
  private closed = false;
  /** Creations under way: they count against maxGroups. */
  private creating = 0;
  /** Deleted groups whose records are being removed. */
  private readonly cleanups = new Map<string, Promise<void>>();
  private syncTimer: NodeJS.Timeout | undefined;
  readonly maxGroups: number;
  readonly memberOutbox: number;
  /** What the slots need from the manager. */
  private readonly host: SlotHost;

  constructor(
    private readonly store: EventStore,
    private readonly feeds: FeedFactory,
    private readonly log: Logger,
    private readonly options: GroupManagerOptions = {},
  ) {
    this.maxGroups = options.maxGroups ?? DEFAULT_MAX_GROUPS;
    this.memberOutbox = options.memberOutbox ?? DEFAULT_MEMBER_OUTBOX;
    this.host = { resume: (def) => this.resume(def), holds: (slot) => !this.closed && this.slots.get(slot.name) === slot, idleMs: options.idleMs ?? DEFAULT_GROUP_IDLE_MS, log };
  }

  /**
   * Reads every group's definition. Nothing else is loaded: a group's runtime starts where it left
   * off when a member joins, so start-up takes the same time with one group or a thousand.
   */
  async start(): Promise<void> {
    for (const def of await loadGroups(this.store)) this.slots.set(def.group.name, new GroupSlot(def, this.host));
    if (this.slots.size > 0) this.log.info({ groups: this.slots.size }, "consumer groups known; each loads when a member joins");
    if (this.feeds.shared) {
      this.syncTimer = setInterval(() => void this.sync().catch((err: unknown) => this.log.warn({ err }, "group sync failed")), SYNC_INTERVAL_MS);
      this.syncTimer.unref();
    }
  }

  /** A runtime for a stored group, started where the group left off (not registered). */
  private async resume(def: StoredGroup): Promise<GroupRuntime> {
    const name = def.group.name;
    const pending = await loadPending(this.store, name);
    // Counted, not loaded: a group may have a very large dead letter queue.
    const dead = await this.store.kvCount(deadPrefix(name));
    return this.run(def, await this.feeds.resume(def, settingsOf(def.group)), { pending, deadLetters: dead });
  }

  private async run(def: StoredGroup, feed: GroupFeed, state: GroupRuntimeOptions["state"]): Promise<GroupRuntime> {
    const { windowEvents, windowBytes } = this.options;
    const runtime = new GroupRuntime(def, settingsOf(def.group), { store: this.store, log: this.log, feed, state, windowEvents, windowBytes, onStale: () => this.stale() });
    await runtime.start();
    return runtime;
  }

  /** The slot of a group. With shared groups, one this broker has not seen yet is looked up in the store first. */
  private async slotOf(name: string): Promise<GroupSlot> {
    if (!this.slots.has(name) && this.feeds.shared) await this.sync();
    const slot = this.slots.get(name);
    if (!slot) throw notFound(name);
    return slot;
  }

  /** Runs `use` with the group's runtime loaded and held (see GroupSlot.using for `brief`). */
  private async using<T>(name: string, use: (runtime: GroupRuntime) => Promise<T> | T, brief = false): Promise<T> {
    return (await this.slotOf(name)).using(use, brief);
  }

  /**
   * A member joins: the group's runtime is loaded and held until `leave` is called.
   * @throws DomainError GROUP_NOT_FOUND
   */
  async join(name: string, member: Member): Promise<{ runtime: GroupRuntime; leave: () => void }> {
    const slot = await this.slotOf(name);
    const runtime = await slot.acquire();
    runtime.join(member);
    let left = false;
    return {
      runtime,
      leave: () => {
        if (left) return;
        left = true;
        runtime.leave(member);
        slot.release();
      },
    };
  }

  /** A runtime found its definition changed in the store: look at the store again, soon. */
  private stale(): void {
    if (!this.feeds.shared || this.closed) return;
    setImmediate(() => void this.sync().catch((err: unknown) => this.log.warn({ err }, "group sync failed")));
  }

  /** Forgets a group, stops its runtime without writing for it and ends its members: the group is gone. */
  private async drop(name: string, slot: GroupSlot): Promise<void> {
    if (this.slots.get(name) === slot) this.slots.delete(name);
    await slot.discard();
    for (const end of this.onDelete.get(name) ?? []) end();
    this.onDelete.delete(name);
  }

  /**
   * The group's runtime, loaded if it is not (and put to rest again after `idleMs` without members).
   * @throws DomainError GROUP_NOT_FOUND
   */
  async find(name: string): Promise<GroupRuntime> {
    return (await this.slotOf(name)).load();
  }

  /** The group's definition as stored. */
  async config(name: string): Promise<ConsumerGroup> {
    return (await this.slotOf(name)).def.group;
  }

  /** Deliveries of events delivered before, by this broker, since it started (a metrics counter). */
  redeliveries(name: string): number {
    return this.slots.get(name)?.redeliveries ?? 0;
  }

  /**
   * Makes the slots match the definitions in the store: groups created, changed or deleted by
   * other brokers (shared groups), and a definition a runtime found changed under it. A stored
   * definition is the truth: it is compared byte for byte, never by clocks of different replicas.
   */
  async sync(): Promise<void> {
    this.syncing ??= (async () => {
      const defs = await loadGroups(this.store);
      const names = new Set<string>();
      for (const def of defs) {
        const name = def.group.name;
        names.add(name);
        const slot = this.slots.get(name);
        if (slot && sameBytes(slot.def.bytes, def.bytes)) continue;
        if (slot && sameIncarnation(slot.def.group, def.group)) {
          slot.redefine(def);
          continue;
        }
        // New here, or deleted and created again meanwhile.
        if (slot) await this.drop(name, slot);
        this.slots.set(name, new GroupSlot(def, this.host));
      }
      for (const [name, slot] of this.slots) if (!names.has(name)) await this.drop(name, slot);
    })().finally(() => (this.syncing = undefined));
    await this.syncing;
  }

  list(): ConsumerGroup[] {
    return [...this.slots.values()].map((s) => s.def.group).sort((a, b) => a.name.localeCompare(b.name));
  }

  async create(input: ConsumerGroup | undefined, caller: string): Promise<ConsumerGroup> {
    const settings = settingsOf(input);
    const exists = () => new DomainError(ErrorReason.GROUP_EXISTS, `consumer group '${settings.name}' already exists`);
    if (this.feeds.shared) await this.sync();
    if (this.slots.has(settings.name)) throw exists();
    if (this.slots.size + this.creating >= this.maxGroups) {
      throw new DomainError(ErrorReason.TOO_LARGE, `consumer groups: this broker holds at most ${this.maxGroups} (BROKER_MAX_GROUPS); delete one or raise the limit`, {
        details: [pack(LimitExceededSchema, { subject: "consumer groups", limit: BigInt(this.maxGroups), actual: BigInt(this.slots.size + this.creating + 1) })],
      });
    }
    this.creating++;
    try {
      return await this.define(input as ConsumerGroup, settings, caller, exists);
    } finally {
      this.creating--;
    }
  }

  private async define(input: ConsumerGroup, settings: GroupSettings, caller: string, exists: () => DomainError): Promise<ConsumerGroup> {
    const group = normalized(input, settings);
    // What a delete cut short by a crash (or still under way) left behind must not become the new group's state.
    await this.cleanups.get(group.name);
    await deleteGroupState(this.store, group.name);
    const def = storedGroup(group, encodePosition(await this.feeds.startOf(group)));
    // Created on another replica meanwhile: that one wins.
    if (!(await this.store.kvWrite([{ key: groupKey(group.name), value: def.bytes }], { key: groupKey(group.name), value: null }))) throw exists();
    let runtime: GroupRuntime;
    try {
      runtime = await this.run(def, await this.feeds.create(def, settings), { pending: [], deadLetters: 0 });
    } catch (err) {
      await this.store.kvWrite([{ key: groupKey(group.name), value: null }], { key: groupKey(group.name), value: def.bytes });
      throw err;
    }
    if (this.slots.has(group.name)) {
      // A sync picked the new definition up from the store meanwhile (and a member may hold it).
      await runtime.close();
    } else {
      // Loaded, for the members that usually join next; put to rest if none does.
      const slot = new GroupSlot(def, this.host, runtime);
      this.slots.set(group.name, slot);
      slot.armIdle();
    }
    this.log.info({ group: group.name, caller }, "consumer group created");
    return group;
  }

  /**
   * Runs `change` on the group's runtime while its definition is the stored one; when another
   * replica changed it meanwhile, looks at the store again and runs it on the new one.
   */
  private async withCurrent<T>(name: string, change: (slot: GroupSlot) => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const done = await change(await this.slotOf(name));
      if (done !== undefined) return done;
      await this.sync();
    }
    throw new DomainError(ErrorReason.STORE_UNAVAILABLE, `consumer group '${name}' keeps changing; try again`);
  }

  async update(input: ConsumerGroup | undefined, caller: string): Promise<ConsumerGroup> {
    const group = await this.withCurrent(input?.name ?? "", async (slot) => {
      const was = slot.def;
      const name = was.group.name;
      const settings = settingsOf({ ...(input as ConsumerGroup), name });
      const group = normalized({ ...(input as ConsumerGroup), name, start: was.group.start }, settings, was.group.createTime);
      const def = storedGroup(group, was.record.ackFloor, was.record.doneAbove);
      if (!(await this.store.kvWrite([{ key: groupKey(name), value: def.bytes }], { key: groupKey(name), value: was.bytes }))) return undefined;
      slot.redefine(def);
      return group;
    });
    this.log.info({ group: group.name, caller }, "consumer group updated");
    return group;
  }

  /**
   * Deletes the definition first (from then on no replica writes for the group: their writes
   * expect it), then the group's JetStream consumer and records. Replicas drop the group at their
   * next sync and end its members with NOT_FOUND.
   */
  async delete(name: string, caller: string): Promise<void> {
    const slot = await this.withCurrent(name, async (slot) => {
      const current = await this.store.kvGet(groupKey(name));
      if (!current || !sameBytes(current, slot.def.bytes)) return undefined;
      // A JetStream consumer that cannot be deleted fails the call with the group intact.
      await this.feeds.destroy(name);
      await this.store.kvWrite([{ key: groupKey(name), value: null }]);
      return slot;
    });
    await this.drop(name, slot);
    this.log.info({ group: name, caller }, "consumer group deleted");
    // The rest goes in the background: a large dead letter queue must not hold the call up. A group
    // created again under this name waits for it (see create).
    const cleanup = deleteGroupState(this.store, name)
      .catch((err: unknown) => this.log.warn({ err, group: name }, "records of a deleted group not all removed; removed when the name is used again"))
      .finally(() => this.cleanups.delete(name));
    this.cleanups.set(name, cleanup);
  }

  /** Registers what ends a member's stream when its group is deleted; returns the remover. */
  whenDeleted(name: string, end: () => void): () => void {
    const set = this.onDelete.get(name) ?? new Set();
    set.add(end);
    this.onDelete.set(name, set);
    return () => set.delete(end);
  }

  /** A group at rest is loaded for its stats and put back to rest at once. */
  async stats(name: string): Promise<GroupStats> {
    return this.using(name, groupStats, true);
  }

  async listDeadLetters(name: string, pageSize: number, pageToken: string): Promise<{ letters: DeadLetter[]; next: string }> {
    await this.flushLoaded(name);
    return listDeadLetters(this.store, name, pageSize, pageToken);
  }

  /**
   * Dead letters are written with the group's progress: written now (by the loaded runtime, or by
   * one being put to rest) so that a list or selection is current. A group at rest has written all.
   */
  private async flushLoaded(name: string): Promise<void> {
    const slot = await this.slotOf(name);
    await slot.closing;
    await slot.runtime?.flush();
  }

  async redrive(name: string, selector: DeadLetterSelector | undefined, caller: string): Promise<number> {
    const count = await this.using(name, (runtime) => redriveDeadLetters(this.store, runtime, selector));
    this.log.info({ group: name, action: "redrive", count, selector: selector?.select.case, caller, at: new Date().toISOString() }, "dead letters redriven");
    return count;
  }

  async purge(name: string, selector: DeadLetterSelector | undefined, caller: string): Promise<number> {
    const count = await this.using(name, (runtime) => purgeDeadLetters(this.store, runtime, selector));
    this.log.info({ group: name, action: "purge", count, selector: selector?.select.case, caller, at: new Date().toISOString() }, "dead letters purged");
    return count;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.syncing;
    await Promise.all([...this.slots.values()].map((s) => s.close()));
    await Promise.all(this.cleanups.values());
    this.slots.clear();
  }
}
