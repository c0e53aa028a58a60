import { create, fromBinary } from "@bufbuild/protobuf";
import { durationFromMs, timestampDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import {
  DeadLetterSchema,
  GroupStatsSchema,
  type ConsumerGroup,
  type DeadLetter,
  type DeadLetterSelector,
  type GroupStats,
} from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { eventToBinary } from "../../../sdk/src/event/codec.js";
import { DomainError, invalidRequest } from "../errors.js";
import { compileFilter } from "../services/filter.js";
import { seqBeforeTime } from "../services/follow-log.js";
import type { LiveHub } from "../services/live-hub.js";
import { matcher } from "../services/matcher.js";
import type { EventStore } from "../store/event-store.js";
import { decodePosition, encodePosition, isPosition } from "../store/position.js";
import { normalized, settingsOf, type GroupSettings } from "./group-config.js";
import { deadPrefix, deleteGroupState, groupKey, loadDeadLetters, loadGroups, loadPending, loadProgress, storedGroup, type StoredGroup } from "./group-records.js";
import { GroupRuntime, type GroupFeed, type GroupRuntimeOptions } from "./group-runtime.js";
import { StoreFeed } from "./store-feed.js";

export const DEFAULT_DEAD_LETTER_PAGE = 100;
/** Dead letters a redrive or purge reads and acts on at once. */
const DEAD_LETTER_CHUNK = 1_000;
const SYNC_INTERVAL_MS = 2_000;
/** Tries of an update or delete that found the definition changed by another replica meanwhile. */
const CAS_TRIES = 5;

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;
const sameIncarnation = (a: ConsumerGroup, b: ConsumerGroup) => a.createTime?.seconds === b.createTime?.seconds && a.createTime?.nanos === b.createTime?.nanos;

function notFound(name: string): DomainError {
  return new DomainError(ErrorReason.GROUP_NOT_FOUND, `consumer group '${name}' not found`);
}

/** Makes the feed of each group: the store (embedded) or JetStream. */
export interface FeedFactory {
  /** The position a new group starts after. */
  startOf(group: ConsumerGroup): Promise<bigint>;
  /** For a group just created (sets up a JetStream consumer, with NATS). */
  create(def: StoredGroup, settings: GroupSettings): Promise<GroupFeed>;
  /** For a group resumed at start-up or picked up from another replica. */
  resume(def: StoredGroup, settings: GroupSettings): Promise<GroupFeed>;
  /** Removes what `create` set up. */
  destroy(name: string): Promise<void>;
  /**
   * Groups live outside this broker (JetStream) and every replica may serve them: definitions
   * made on one broker are picked up by the others.
   */
  readonly shared: boolean;
}

/** The embedded feeds: the store and the live hub. */
export function storeFeeds(store: EventStore, hub: LiveHub, log: Logger): FeedFactory {
  return {
    startOf: (group) => startFloor(store, hub.lastSeq, group),
    create: async (def, settings) => new StoreFeed(store, hub, log, settings, { floor: decodePosition(def.record.ackFloor) ?? 0n, doneAbove: [] }),
    resume: async (def, settings) => {
      const at = await loadProgress(store, def);
      return new StoreFeed(store, hub, log, settings, { floor: decodePosition(at.floor) ?? 0n, doneAbove: at.doneAbove.map((p) => decodePosition(p) ?? 0n) });
    },
    destroy: async () => undefined,
    shared: false,
  };
}

/** The position a new group starts after: beginning, a time, or now (`hubSeq`). */
export async function startFloor(store: EventStore, hubSeq: bigint, group: ConsumerGroup): Promise<bigint> {
  const start = group.start?.start;
  if (start?.case === "fromBeginning") return 0n;
  if (start?.case === "fromTime") {
    return seqBeforeTime(store, timestampDate(start.value).getTime() * 1000, hubSeq);
  }
  return hubSeq;
}

/** The broker's consumer groups: their definitions, runtimes and dead letters. */
export class GroupManager {
  private readonly runtimes = new Map<string, GroupRuntime>();
  /** Members to disconnect when their group goes away. */
  private readonly onDelete = new Map<string, Set<() => void>>();
  private syncing: Promise<void> | undefined;
  private closed = false;
  /** Deleted groups whose records are being removed. */
  private readonly cleanups = new Map<string, Promise<void>>();
  private syncTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly feeds: FeedFactory,
    private readonly log: Logger,
    private readonly options: { windowEvents?: number | undefined } = {},
  ) {}

  /** Loads every group from the store and starts it where it left off. */
  async start(): Promise<void> {
    for (const def of await loadGroups(this.store)) await this.resumeOrRetry(def);
    if (this.runtimes.size > 0) this.log.info({ groups: [...this.runtimes.keys()] }, "consumer groups resumed");
    if (this.feeds.shared) {
      this.syncTimer = setInterval(() => void this.sync().catch((err: unknown) => this.log.warn({ err }, "group sync failed")), SYNC_INTERVAL_MS);
      this.syncTimer.unref();
    }
  }

  /**
   * Resumes a group; with shared groups, a failure (JetStream timing out or refusing) is logged as
   * itself and the group is tried again at the next sync, while the other groups run.
   */
  private async resumeOrRetry(def: StoredGroup): Promise<void> {
    try {
      await this.resume(def);
    } catch (err) {
      if (!this.feeds.shared) throw err;
      this.log.error({ err, group: def.group.name }, "consumer group could not be resumed; trying again at the next sync");
    }
  }

  private async resume(def: StoredGroup): Promise<void> {
    const name = def.group.name;
    const pending = await loadPending(this.store, name);
    // Counted, not loaded: a group may have a very large dead letter queue.
    const dead = await this.store.kvCount(deadPrefix(name));
    await this.run(def, await this.feeds.resume(def, settingsOf(def.group)), { pending, deadLetters: dead });
  }

  private async run(def: StoredGroup, feed: GroupFeed, state: GroupRuntimeOptions["state"]): Promise<GroupRuntime> {
    const runtime = new GroupRuntime(def, settingsOf(def.group), { store: this.store, log: this.log, feed, state, windowEvents: this.options.windowEvents, onStale: () => this.stale() });
    this.runtimes.set(def.group.name, runtime);
    await runtime.start();
    return runtime;
  }

  /** A runtime found its definition changed in the store: look at the store again, soon. */
  private stale(): void {
    if (!this.feeds.shared || this.closed) return;
    setImmediate(() => void this.sync().catch((err: unknown) => this.log.warn({ err }, "group sync failed")));
  }

  /** Stops a group's runtime without writing for it and ends its members: the group is gone. */
  private async drop(name: string, runtime: GroupRuntime): Promise<void> {
    if (this.runtimes.get(name) === runtime) this.runtimes.delete(name);
    await runtime.close({ discard: true });
    for (const end of this.onDelete.get(name) ?? []) end();
    this.onDelete.delete(name);
  }

  /**
   * The group's runtime. With shared groups, one this broker has not seen yet (created on another
   * replica) is picked up from the store first.
   * @throws DomainError GROUP_NOT_FOUND
   */
  async find(name: string): Promise<GroupRuntime> {
    if (!this.runtimes.has(name) && this.feeds.shared) await this.sync();
    const runtime = this.runtimes.get(name);
    if (!runtime) throw notFound(name);
    return runtime;
  }

  /**
   * Makes the runtimes match the definitions in the store: groups created, changed or deleted by
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
        const runtime = this.runtimes.get(name);
        if (runtime && sameBytes(runtime.stored.bytes, def.bytes)) continue;
        if (runtime && sameIncarnation(runtime.config, def.group)) {
          runtime.update(def, settingsOf(def.group));
          continue;
        }
        // New here, or deleted and created again meanwhile.
        if (runtime) await this.drop(name, runtime);
        await this.resumeOrRetry(def);
      }
      for (const [name, runtime] of this.runtimes) if (!names.has(name)) await this.drop(name, runtime);
    })().finally(() => (this.syncing = undefined));
    await this.syncing;
  }

  list(): ConsumerGroup[] {
    return [...this.runtimes.values()].map((r) => r.config).sort((a, b) => a.name.localeCompare(b.name));
  }

  async create(input: ConsumerGroup | undefined, caller: string): Promise<ConsumerGroup> {
    const settings = settingsOf(input);
    const exists = () => new DomainError(ErrorReason.GROUP_EXISTS, `consumer group '${settings.name}' already exists`);
    if (this.feeds.shared) await this.sync();
    if (this.runtimes.has(settings.name)) throw exists();
    const group = normalized(input as ConsumerGroup, settings);
    // What a delete cut short by a crash (or still under way) left behind must not become the new group's state.
    await this.cleanups.get(group.name);
    await deleteGroupState(this.store, group.name);
    const def = storedGroup(group, encodePosition(await this.feeds.startOf(group)));
    // Created on another replica meanwhile: that one wins.
    if (!(await this.store.kvWrite([{ key: groupKey(group.name), value: def.bytes }], { key: groupKey(group.name), value: null }))) throw exists();
    try {
      await this.run(def, await this.feeds.create(def, settings), { pending: [], deadLetters: 0 });
    } catch (err) {
      await this.store.kvWrite([{ key: groupKey(group.name), value: null }], { key: groupKey(group.name), value: def.bytes });
      throw err;
    }
    this.log.info({ group: group.name, caller }, "consumer group created");
    return group;
  }

  /**
   * Runs `change` on the group's runtime while its definition is the stored one; when another
   * replica changed it meanwhile, looks at the store again and runs it on the new one.
   */
  private async withCurrent<T>(name: string, change: (runtime: GroupRuntime) => Promise<T | undefined>): Promise<T> {
    for (let i = 0; i < CAS_TRIES; i++) {
      const done = await change(await this.find(name));
      if (done !== undefined) return done;
      await this.sync();
    }
    throw new DomainError(ErrorReason.STORE_UNAVAILABLE, `consumer group '${name}' keeps changing; try again`);
  }

  async update(input: ConsumerGroup | undefined, caller: string): Promise<ConsumerGroup> {
    const group = await this.withCurrent(input?.name ?? "", async (runtime) => {
      const settings = settingsOf({ ...(input as ConsumerGroup), name: runtime.name });
      const group = normalized({ ...(input as ConsumerGroup), name: runtime.name, start: runtime.config.start }, settings, runtime.config.createTime);
      const was = runtime.stored;
      const def = storedGroup(group, was.record.ackFloor, was.record.doneAbove);
      if (!(await this.store.kvWrite([{ key: groupKey(runtime.name), value: def.bytes }], { key: groupKey(runtime.name), value: was.bytes }))) return undefined;
      runtime.update(def, settings);
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
    const runtime = await this.withCurrent(name, async (runtime) => {
      const current = await this.store.kvGet(groupKey(name));
      if (!current || !sameBytes(current, runtime.stored.bytes)) return undefined;
      // A JetStream consumer that cannot be deleted fails the call with the group intact.
      await this.feeds.destroy(name);
      await this.store.kvWrite([{ key: groupKey(name), value: null }]);
      return runtime;
    });
    await this.drop(name, runtime);
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

  async stats(name: string): Promise<GroupStats> {
    const runtime = await this.find(name);
    const s = await runtime.stats();
    return create(GroupStatsSchema, {
      backlog: BigInt(s.backlog),
      ...(s.oldestUs === undefined || s.backlog === 0 ? {} : { oldestUnackedAge: durationFromMs(Math.max(0, Math.round(Date.now() - s.oldestUs / 1000))) }),
      inFlight: BigInt(s.inFlight),
      retrying: BigInt(s.retrying),
      deadLetters: BigInt(runtime.deadLetters),
      ackFloor: s.floor,
      members: runtime.memberList.map((m) => ({
        memberId: m.id,
        inFlight: m.inFlight.size,
        maxInFlight: m.maxInFlight,
        acked: BigInt(m.acked),
        nacked: BigInt(m.nacked),
        connectTime: timestampFromMs(m.connectTime),
        peer: m.peer,
      })),
    });
  }

  async listDeadLetters(name: string, pageSize: number, pageToken: string): Promise<{ letters: DeadLetter[]; next: string }> {
    // Dead letters are written with the group's progress; write it now so the list is current.
    await (await this.find(name)).flush();
    if (pageSize < 0 || pageSize > 1000) throw invalidRequest("page_size", "range", `'page_size' must be 0-1000, got ${pageSize}`);
    if (pageToken !== "" && !isPosition(pageToken)) throw invalidRequest("page_token", "page_token", "'page_token' is not a token this broker issued");
    const size = pageSize || DEFAULT_DEAD_LETTER_PAGE;
    // One page (and one more record, to know whether another page follows) read from the store.
    const page = await loadDeadLetters(this.store, name, { after: pageToken === "" ? undefined : pageToken, limit: size + 1 });
    const letters = page.slice(0, size);
    return { letters, next: page.length > size ? (letters.at(-1)?.position ?? "") : "" };
  }

  /**
   * The dead letters a selector names, a chunk at a time, so a redrive or purge of a large dead
   * letter queue never holds all of it: positions are read one by one, "all" and filters page
   * through the queue in position order.
   */
  private async *selected(name: string, selector: DeadLetterSelector | undefined): AsyncGenerator<DeadLetter[]> {
    const sel = selector?.select;
    if (sel?.case !== "all" && sel?.case !== "positions" && sel?.case !== "filter") throw invalidRequest("select", "required", "'select' must name all, positions or a filter");
    const keep = sel.case === "filter" ? matcher(compileFilter(sel.value, "select.filter")) : undefined;
    // Dead letters are written with the group's progress; write it now so the selection is current.
    await (await this.find(name)).flush();
    if (sel.case === "positions") {
      const wanted = [...new Set(sel.value.positions)].filter(isPosition).sort();
      for (let i = 0; i < wanted.length; i += DEAD_LETTER_CHUNK) {
        const values = await Promise.all(wanted.slice(i, i + DEAD_LETTER_CHUNK).map((p) => this.store.kvGet(deadPrefix(name) + p)));
        const letters = values.flatMap((v) => (v ? [fromBinary(DeadLetterSchema, v)] : []));
        if (letters.length > 0) yield letters;
      }
      return;
    }
    for (let after: string | undefined; ; ) {
      const page = await loadDeadLetters(this.store, name, { after, limit: DEAD_LETTER_CHUNK });
      const chosen = keep ? page.filter((l) => l.event !== undefined && keep(l.event)) : page;
      if (chosen.length > 0) yield chosen;
      const last = page.at(-1);
      if (!last || page.length < DEAD_LETTER_CHUNK) return;
      after = last.position;
    }
  }

  async redrive(name: string, selector: DeadLetterSelector | undefined, caller: string): Promise<number> {
    const runtime = await this.find(name);
    let count = 0;
    for await (const letters of this.selected(name, selector)) {
      await runtime.redrive(
        letters.flatMap((l) => (l.event ? [{ position: l.position, data: eventToBinary(l.event), recordedUs: l.event.recordedTime ? timestampDate(l.event.recordedTime).getTime() * 1000 : 0 }] : [])),
      );
      count += letters.length;
    }
    this.log.info({ group: name, action: "redrive", count, selector: selector?.select.case, caller, at: new Date().toISOString() }, "dead letters redriven");
    return count;
  }

  async purge(name: string, selector: DeadLetterSelector | undefined, caller: string): Promise<number> {
    const runtime = await this.find(name);
    let count = 0;
    for await (const letters of this.selected(name, selector)) {
      await this.store.kvWrite(letters.map((l) => ({ key: deadPrefix(name) + l.position, value: null })));
      runtime.purged(letters.length);
      count += letters.length;
    }
    this.log.info({ group: name, action: "purge", count, selector: selector?.select.case, caller, at: new Date().toISOString() }, "dead letters purged");
    return count;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.syncTimer) clearInterval(this.syncTimer);
    await this.syncing;
    await Promise.all([...this.runtimes.values()].map((r) => r.close()));
    await Promise.all(this.cleanups.values());
    this.runtimes.clear();
  }
}
