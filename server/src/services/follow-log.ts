import type { EventStore, StoreFilter } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import type { HubEvent, LiveHub } from "./live-hub.js";

export const CATCH_UP_CHUNK = 512;

type StoredRows = Awaited<ReturnType<EventStore["scan"]>>;

/**
 * Live events for one subscriber, bounded. Attached to the hub before the catch-up starts, so
 * nothing committed meanwhile is missed; while the subscriber reads history, an overflow just drops
 * the queue and moves the floor (the history read then goes further), but once live, an overflow
 * means the subscriber cannot keep up.
 */
export class LiveQueue {
  private items: HubEvent[] = [];
  private head = 0;
  private wake: (() => void) | undefined;
  overflowed = false;
  /** Events at or below the floor are read from the store, not from this queue. */
  floor: bigint;

  constructor(
    private readonly hub: LiveHub,
    private readonly max: number,
    private readonly onOverflow: () => void,
  ) {
    this.floor = hub.lastSeq;
  }

  push = (e: HubEvent): void => {
    if (this.overflowed) return;
    if (this.items.length - this.head >= this.max) {
      this.overflowed = true;
      this.items = [];
      this.head = 0;
      this.onOverflow();
    } else {
      this.items.push(e);
    }
    this.wake?.();
  };

  /** After an overflow during catch-up: start over from the hub's current position. */
  reset(): void {
    this.overflowed = false;
    this.floor = this.hub.lastSeq;
  }

  async next(signal: AbortSignal): Promise<HubEvent | undefined> {
    while (this.head >= this.items.length) {
      if (signal.aborted || this.overflowed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    const e = this.items[this.head++] as HubEvent;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  interrupt = (): void => this.wake?.();
}

/** What following the log yields, in position order, each event once. */
export type LogItem =
  /** A matching event read from the store (history). */
  | { readonly kind: "stored"; readonly seq: bigint; readonly position: string; readonly recordedUs: number; readonly data: Uint8Array }
  /** A live event from the hub; not filtered: the follower decides. */
  | { readonly kind: "live"; readonly event: HubEvent }
  /** History is done; what follows is live (yielded once). */
  | { readonly kind: "caughtUp"; readonly seq: bigint };

export interface FollowOptions {
  store: EventStore;
  hub: LiveHub;
  /** Applied to history reads; live events come unfiltered. */
  filter: StoreFilter;
  maxBuffered: number;
  signal: AbortSignal;
  /** The sequence number to follow after, given the hub's position at attach time. */
  start: (hubSeq: bigint) => Promise<bigint>;
  /**
   * When live events pile up beyond `maxBuffered` once caught up: with this callback the follow
   * ends (a subscriber too slow is told so); without it, the follower reads the store again (a
   * background follower just falls behind for a while).
   */
  onLiveOverflow?: () => void;
}

/**
 * Follows the event log: history from the store, then live events from the hub, without gap or
 * duplicate at the switch however busy the log is. Attaches to the hub before reading history,
 * so nothing committed meanwhile is missed; a bounded queue holds live events while history is
 * read, and an overflow just sends the follower back to the store.
 */
export async function* followLog(o: FollowOptions): AsyncGenerator<LogItem> {
  let live = false;
  const queue = new LiveQueue(o.hub, o.maxBuffered, () => {
    if (live) o.onLiveOverflow?.();
  });
  const detach = o.hub.attach(queue.push);
  o.signal.addEventListener("abort", queue.interrupt, { once: true });
  try {
    let cursor = await o.start(queue.floor);
    let caughtUp = false;
    for (;;) {
      live = false;
      // History up to the floor, in chunks; the next chunk is read while this one is yielded.
      const floor = queue.floor;
      const scan = (after: bigint) => o.store.scan({ filter: o.filter, afterPosition: encodePosition(after), beforePosition: encodePosition(floor + 1n), limit: CATCH_UP_CHUNK });
      let next = cursor < floor ? scan(cursor) : undefined;
      try {
        while (next && !o.signal.aborted) {
          const rows: StoredRows = await next;
          const last = rows.length === CATCH_UP_CHUNK ? decodePosition(rows.at(-1)?.position ?? "") : undefined;
          next = last !== undefined && last < floor ? scan(last) : undefined;
          for (const r of rows) yield { kind: "stored", seq: decodePosition(r.position) ?? 0n, position: r.position, recordedUs: r.recordedUs, data: r.data };
          cursor = last ?? floor;
        }
      } finally {
        next?.catch(() => undefined);
      }
      if (queue.overflowed) {
        queue.reset();
        continue;
      }
      if (o.signal.aborted) return;
      live = true;
      if (!caughtUp) {
        caughtUp = true;
        yield { kind: "caughtUp", seq: cursor };
      }
      for (let e = await queue.next(o.signal); e; e = await queue.next(o.signal)) {
        if (e.seq <= cursor) continue;
        cursor = e.seq;
        yield { kind: "live", event: e };
      }
      if (o.signal.aborted || o.onLiveOverflow || !queue.overflowed) return;
      queue.reset();
    }
  } finally {
    detach();
    o.signal.removeEventListener("abort", queue.interrupt);
  }
}
