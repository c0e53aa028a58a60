// Ordering per key (subject or correlation id) inside a consumer group's window: one event of a key
// at a time, in position order.
import { OrderingMode } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import type { Entry } from "./group-entry.js";

export class KeyOrder {
  private readonly queues = new Map<string, bigint[]>();

  constructor(private ordering: OrderingMode) {}

  get ordered(): boolean {
    return this.ordering !== OrderingMode.NONE;
  }

  keyOf(e: Pick<Entry, "subject" | "correlationId">): string {
    return this.ordering === OrderingMode.SUBJECT ? e.subject : this.ordering === OrderingMode.CORRELATION_ID ? e.correlationId : "";
  }

  /** Queues an entry under its key; true when it is its key's head (always, without ordering). */
  enqueue(entry: Entry): boolean {
    if (!this.ordered) return true;
    const q = this.queues.get(entry.key) ?? [];
    // Keys queue in position order; a redriven (older) entry goes to its place.
    let i = q.length;
    while (i > 0 && (q[i - 1] as bigint) > entry.seq) i--;
    q.splice(i, 0, entry.seq);
    this.queues.set(entry.key, q);
    // A displaced head may still sit in the ready heap; dispatch skips it until it is the head again.
    return i === 0;
  }

  isHead(entry: Entry): boolean {
    return !this.ordered || this.queues.get(entry.key)?.[0] === entry.seq;
  }

  /** Takes a finished entry out of its key's queue; returns the key's next head when the entry was the head. */
  remove(entry: Entry): bigint | undefined {
    if (!this.ordered) return undefined;
    const q = this.queues.get(entry.key);
    const i = q?.indexOf(entry.seq) ?? -1;
    if (!q || i < 0) return undefined;
    q.splice(i, 1);
    if (q.length === 0) this.queues.delete(entry.key);
    return i === 0 ? q[0] : undefined;
  }

  /** Forgets every queue (the ordering changed; entries are queued again). */
  reset(ordering: OrderingMode): void {
    this.ordering = ordering;
    this.queues.clear();
  }
}
