// The units a consumer group's runtime works with: the events of its window, its members, the
// heap that orders ready events, and the delivery frame sent to a member.
import { fromBinary } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Attempt, PendingRecord } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { singleField, Wire } from "../services/wire.js";

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

/** An entry for an event read from the feed, with the attempt state restored for it, if any. */
export function newEntry(seq: bigint, position: string, data: Uint8Array, recordedUs: number | undefined, handle: unknown, record: Restored | undefined): Entry {
  const event = fromBinary(EventSchema, data);
  return {
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
}

/** What a window holds: in flight, waiting to retry, redriven, and the oldest recorded time. */
export function windowCounts(entries: Iterable<Entry>): { inFlight: number; retrying: number; redriven: number; oldestUs: number | undefined } {
  const n = { inFlight: 0, retrying: 0, redriven: 0, oldestUs: undefined as number | undefined };
  for (const e of entries) {
    if (e.state === "inflight") n.inFlight++;
    if (e.state === "waiting") n.retrying++;
    if (e.redriven) n.redriven++;
    if (n.oldestUs === undefined || e.recordedUs < n.oldestUs) n.oldestUs = e.recordedUs;
  }
  return n;
}

/** A connected member of the group. */
export class Member {
  readonly inFlight = new Set<Entry>();
  /**
   * Deliveries handed to `send` and not yet written to the member's stream (the handler counts
   * them down). A member that does not read keeps them queued, and gets nothing more meanwhile:
   * a delivery whose deadline passes while queued is not queued again.
   */
  queued = 0;
  acked = 0;
  nacked = 0;
  readonly connectTime = Date.now();
  constructor(
    readonly id: string,
    readonly maxInFlight: number,
    readonly peer: string,
    /**
     * Sends one encoded ConsumeResponse (a delivery) to the member; `current` tells, when the
     * frame's turn to be written comes, whether the delivery is still the member's to answer.
     */
    readonly send: (frame: Uint8Array, current: () => boolean) => void,
  ) {}

  /**
   * A delivery's deadline passed while the member still had deliveries unwritten: it is not
   * reading. It gets nothing more until its stream is drained (`queued` back to 0), so the same
   * events are not queued to it again and again (each a copy of the event).
   */
  stalled = false;

  /** Deliveries the member holds: in flight, or queued for a stream it does not read. */
  get busy(): number {
    return this.stalled ? this.maxInFlight : Math.max(this.inFlight.size, this.queued);
  }
}

/** A min-heap of entries by position. */
export class ReadyHeap {
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
export function deliveryFrame(id: string, data: Uint8Array, attempt: number, deadlineMs: number): Uint8Array {
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

/** The members of a group on this broker, taken in turn. */
export class MemberSet {
  private readonly list: Member[] = [];
  private rr = 0;

  get all(): readonly Member[] {
    return this.list;
  }

  add(m: Member): void {
    this.list.push(m);
  }

  remove(m: Member): void {
    const i = this.list.indexOf(m);
    if (i >= 0) this.list.splice(i, 1);
  }

  /** The next member, round robin, that can take a delivery. */
  pick(): Member | undefined {
    const n = this.list.length;
    for (let k = 0; k < n; k++) {
      const m = this.list[(this.rr + k) % n] as Member;
      if (m.busy < m.maxInFlight) {
        this.rr = (this.rr + k + 1) % n;
        return m;
      }
    }
    return undefined;
  }

  /** How many more deliveries the members could take now. */
  get demand(): number {
    let free = 0;
    for (const m of this.list) free += Math.max(0, m.maxInFlight - m.busy);
    return free;
  }
}
