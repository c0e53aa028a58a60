import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError, idConflict, invalidRequest, shuttingDown } from "../errors.js";
import type { Appended, CommitTiming, EventStore, GroupOutcome, NewEvent, StoredEvent } from "./event-store.js";

/** A newly stored event with what fan-out needs to route it. */
export type CommittedEvent = StoredEvent & Pick<NewEvent, "id" | "type" | "source" | "subject" | "correlationId" | "traceparent">;

/** Options of {@link GroupCommitter}. */
export interface GroupCommitOptions {
  /** Events accepted but not yet committed; beyond it submissions fail with OVERLOADED. */
  maxPendingEvents: number;
  /** Most events in one store commit. */
  maxBatchEvents?: number;
  /**
   * Called after each commit with the newly stored events, in position order, once their publishes
   * are acknowledged. What it throws goes to `onCommittedError`; it never fails a publish.
   */
  onCommitted?: (events: readonly CommittedEvent[]) => void;
  onCommittedError?: (err: unknown) => void;
  /** Called after each store commit with how long it took, from hand-over to outcome, in seconds. */
  onCommitTime?: (seconds: number) => void;
  /** Diagnostics: called with a record of each commit, once settled (BROKER_COMMIT_TRACE). */
  trace?: (record: CommitRecord) => void;
}

/**
 * Where the time of one commit went, for traces. Times are {@link monoMs} readings, comparable
 * across the threads and processes of a host.
 */
export interface CommitRecord {
  /** The first event id of each group of the commit, and when each group was submitted. */
  ids: string[];
  submitted: number[];
  events: number;
  /** Handed to the store. */
  handover: number;
  /** The store's side (see CommitTiming); zeros when the commit failed. */
  store: CommitTiming;
  /** Its publishes were resolved (acknowledgements go out from here). */
  settled: number;
  failed: boolean;
}

/**
 * Milliseconds (with fractions) on the host's monotonic clock (CLOCK_MONOTONIC, as process.hrtime):
 * one clock for every thread and process. (performance.timeOrigin + now() differs by several ms
 * between the threads of one process.)
 */
export const monoMs = (): number => Number(process.hrtime.bigint()) / 1e6;

interface Waiter {
  group: readonly NewEvent[];
  /** When it was submitted (monoMs), only when tracing. */
  at: number;
  resolve: (events: readonly Appended[]) => void;
  reject: (err: unknown) => void;
}

const DEFAULT_MAX_BATCH_EVENTS = 4_096;

/**
 * How many of the queued groups (their event counts and bytes) go into the next commit: as many
 * as fit in both bounds, and always at least one, since a group is atomic and never split.
 */
export function batchLength(groups: readonly { readonly events: number; readonly bytes: number }[], maxEvents: number, maxBytes: number): number {
  let n = 0;
  let events = 0;
  let bytes = 0;
  for (const g of groups) {
    if (n > 0 && (events + g.events > maxEvents || bytes + g.bytes > maxBytes)) break;
    events += g.events;
    bytes += g.bytes;
    n++;
  }
  return n;
}

/**
 * Ids of events whose commit failed without a definite answer (a timeout, a lost connection): the
 * commit may have happened. When the client's retry then comes back as a duplicate, that event is
 * fanned out after all, since nobody fanned it out before (the hub and the bus drop an event they
 * already have, by position). Bounded: the oldest ids are forgotten first.
 */
export class InDoubtIds {
  private readonly ids = new Set<string>();

  constructor(private readonly maxIds: number) {}

  get size(): number {
    return this.ids.size;
  }

  add(ids: Iterable<string>): void {
    for (const id of ids) {
      this.ids.delete(id);
      this.ids.add(id);
      if (this.ids.size > this.maxIds) this.ids.delete(this.ids.values().next().value as string);
    }
  }

  /** True (once) when `id` was in doubt. */
  take(id: string): boolean {
    return this.ids.delete(id);
  }
}

const groupBytes = (group: readonly NewEvent[]): number => group.reduce((n, e) => n + e.bytes.length, 0);

/**
 * Group commit: every publish of an event-loop turn (and of the time the previous commit took)
 * goes into one store transaction, so the per-commit cost (an fsync) is shared. Commits run one at a
 * time, which keeps positions and onCommitted calls in commit order.
 */
export class GroupCommitter {
  private queue: Waiter[] = [];
  private pending = 0;
  private running: Promise<void> | undefined;
  private closed = false;
  private readonly maxBatch: number;
  private readonly inDoubt: InDoubtIds;

  constructor(
    private readonly store: EventStore,
    private readonly options: GroupCommitOptions,
  ) {
    this.maxBatch = options.maxBatchEvents ?? DEFAULT_MAX_BATCH_EVENTS;
    this.inDoubt = new InDoubtIds(options.maxPendingEvents);
  }

  /** Events accepted and not yet committed. */
  get pendingEvents(): number {
    return this.pending;
  }

  /**
   * Appends one atomic group; resolves once it is durable.
   * @throws DomainError OVERLOADED, SHUTTING_DOWN, ID_CONFLICT, INVALID_REQUEST (an id twice in the
   *   group with different contents) or STORE_UNAVAILABLE
   */
  submit(group: readonly NewEvent[]): Promise<readonly Appended[]> {
    if (this.closed) return Promise.reject(shuttingDown());
    if (this.pending + group.length > this.options.maxPendingEvents) {
      return Promise.reject(new DomainError(ErrorReason.OVERLOADED, `broker overloaded: ${this.pending} events waiting to be stored`));
    }
    this.pending += group.length;
    return new Promise((resolve, reject) => {
      this.queue.push({ group, at: this.options.trace ? monoMs() : 0, resolve, reject });
      this.running ??= this.run();
    });
  }

  private async run(): Promise<void> {
    // Let the rest of this event-loop turn add to the first batch.
    await new Promise<void>((r) => setImmediate(r));
    // Up to `depth` commits are handed to the store at once (it runs them one after the other),
    // so the next one does not wait for the previous one's answer to travel back; they settle in
    // order, which keeps acknowledgements and onCommitted in position order.
    const depth = this.store.appendPipeline ?? 1;
    const inflight: Promise<void>[] = [];
    while (this.queue.length > 0 || inflight.length > 0) {
      if (this.queue.length > 0 && inflight.length < depth) {
        const batch = this.takeBatch();
        const started = performance.now();
        const timing = this.options.trace ? { received: 0, begun: 0, committing: 0, committed: 0 } : undefined;
        const handover = timing ? monoMs() : 0;
        const outcomes = this.store.append(batch.map((w) => w.group), timing);
        outcomes.then(() => this.options.onCommitTime?.((performance.now() - started) / 1000)).catch(() => undefined); // settled below, in order
        inflight.push((inflight.at(-1) ?? Promise.resolve()).then(() => this.settle(batch, outcomes, timing && { handover, timing })));
      } else {
        await inflight.shift();
      }
    }
    this.running = undefined;
  }

  private takeBatch(): Waiter[] {
    const maxBytes = this.store.maxCommitBytes ?? Number.POSITIVE_INFINITY;
    // Only the groups that can fit are measured: the queue may be long.
    const head = this.queue.slice(0, this.maxBatch).map((w) => ({ events: w.group.length, bytes: groupBytes(w.group) }));
    return this.queue.splice(0, batchLength(head, this.maxBatch, maxBytes));
  }

  private async settle(batch: Waiter[], pending: Promise<GroupOutcome[]>, traced?: { handover: number; timing: CommitTiming }): Promise<void> {
    let failed = false;
    try {
      const outcomes = await pending;
      const committed: CommittedEvent[] = [];
      outcomes.forEach((outcome, i) => {
        const w = batch[i] as Waiter;
        if (outcome.ok) {
          outcome.events.forEach((e, j) => {
            const { id, type, source, subject, correlationId, traceparent = "" } = w.group[j] as NewEvent;
            // why: a duplicate was fanned out by the commit that stored it, unless that commit's
            // answer was lost (in doubt): then this retry is the only chance to fan it out.
            if (!this.inDoubt.take(id) && e.duplicate) return;
            committed.push({ id, type, source, subject, correlationId, traceparent, position: e.position, recordedUs: e.recordedUs, data: e.data });
          });
          w.resolve(outcome.events);
        } else {
          const { index, id, position } = outcome.conflict;
          // why: an empty position means the id collided with another event of the same request.
          w.reject(position === "" ? invalidRequest(`events[${index}].id`, "unique", `id '${id}' appears twice in the request with different contents`) : idConflict(id, position, index));
        }
      });
      if (committed.length > 0) this.committed(committed);
    } catch (err) {
      failed = true;
      for (const w of batch) this.inDoubt.add(w.group.map((e) => e.id));
      for (const w of batch) w.reject(err);
    } finally {
      for (const w of batch) this.pending -= w.group.length;
      if (traced) this.traceCommit(batch, traced.handover, traced.timing, failed);
    }
  }

  private traceCommit(batch: Waiter[], handover: number, store: CommitTiming, failed: boolean): void {
    const settled = monoMs();
    let events = 0;
    for (const w of batch) events += w.group.length;
    this.options.trace?.({ ids: batch.map((w) => w.group[0]?.id ?? ""), submitted: batch.map((w) => w.at), events, handover, store, settled, failed });
  }

  private committed(events: readonly CommittedEvent[]): void {
    try {
      this.options.onCommitted?.(events);
    } catch (err) {
      // why: the publishes are durable and acknowledged; a listener's failure is not theirs.
      this.options.onCommittedError?.(err);
    }
  }

  /** Refuses new submissions and waits for everything accepted to be committed (or fail). */
  async drain(): Promise<void> {
    this.closed = true;
    while (this.running) await this.running;
  }
}
