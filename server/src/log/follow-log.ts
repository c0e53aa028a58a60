import type { EventStore, StoreFilter, StoredEvent } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import { scanAhead } from "../store/scan-ahead.js";
import { scanWhereAhead } from "../store/where-scan.js";
import type { HubEvent, LiveHub } from "./live-hub.js";

export const CATCH_UP_CHUNK = 512;
/** Events one history read examines at most for a filter with a `where`. */
export const CATCH_UP_WHERE_SCAN = 10_000;

/**
 * Live events for one subscriber, bounded. Attached to the hub before the catch-up starts, so
 * nothing committed meanwhile is missed; while the subscriber reads history, an overflow just drops
 * the queue and moves the floor (the history read then goes further), but once live, an overflow
 * means the subscriber cannot keep up.
 */
export class LiveQueue {
  private items: HubEvent[] = [];
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
    if (this.items.length >= this.max) {
      this.overflowed = true;
      this.items = [];
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

  /**
   * Every queued event at once, waiting for one if there is none (undefined once aborted or
   * overflowed): a consumer works through a burst synchronously. The queue bound applies to what
   * is queued, so a consumer holds at most one batch more.
   */
  async nextBatch(signal: AbortSignal): Promise<HubEvent[] | undefined> {
    while (this.items.length === 0) {
      if (signal.aborted || this.overflowed) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    if (this.overflowed) return undefined;
    const batch = this.items;
    this.items = [];
    return batch;
  }

  interrupt = (): void => this.wake?.();
}

/**
 * Where to follow from to get every event recorded at or after `fromUs`: the sequence number just
 * before the first of them, or `whenNone` when nothing was recorded since (all of it is still to
 * come, live).
 */
export async function seqBeforeTime(store: EventStore, fromUs: number | undefined, whenNone: bigint): Promise<bigint> {
  const [first] = await store.scan({ filter: {}, ...(fromUs === undefined ? {} : { fromUs }), limit: 1 });
  return first ? (decodePosition(first.position) ?? 1n) - 1n : whenNone;
}

/** What following the log yields, in position order, each event once. */
export type LogItem =
  /** A matching event read from the store (history). */
  | { readonly kind: "stored"; readonly seq: bigint; readonly position: string; readonly recordedUs: number; readonly data: Uint8Array }
  /** A live event from the hub; not filtered: the follower decides. */
  | { readonly kind: "live"; readonly event: HubEvent }
  /** History is done; what follows is live (yielded once). */
  | { readonly kind: "caughtUp"; readonly seq: bigint }
  /** History was read up to `seq` without a match (a filter with a `where`): a resume point. */
  | { readonly kind: "scanned"; readonly seq: bigint };

export interface FollowOptions {
  store: EventStore;
  hub: LiveHub;
  /** Applied to history reads; live events come unfiltered. */
  filter: StoreFilter;
  maxBuffered: number;
  /** Events one history read examines at most for a filter with a `where`. */
  whereScanRows?: number;
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

/** History after `cursor` up to `floor` in pages, each with the cursor to continue from. */
async function* historyPages(o: FollowOptions, cursor: bigint, floor: bigint): AsyncGenerator<{ rows: StoredEvent[]; cursor: bigint }> {
  const history = { filter: o.filter, afterPosition: encodePosition(cursor), beforePosition: encodePosition(floor + 1n), limit: CATCH_UP_CHUNK };
  if (o.filter.where) {
    // Bounded reads, so a selective expression over a long history still makes progress visibly.
    for await (const page of scanWhereAhead(o.store, { ...history, maxScanned: o.whereScanRows ?? CATCH_UP_WHERE_SCAN }, o.signal)) {
      yield { rows: page.events, cursor: page.done ? floor : (decodePosition(page.scannedTo) ?? floor) };
    }
    return;
  }
  for await (const rows of scanAhead(o.store, history, o.signal, (last) => (decodePosition(last.position) ?? floor) < floor)) {
    yield { rows, cursor: rows.length === CATCH_UP_CHUNK ? (decodePosition(rows.at(-1)?.position ?? "") ?? floor) : floor };
  }
}

/**
 * Follows the event log: history from the store, then live events from the hub, without gap or
 * duplicate at the switch however busy the log is. Attaches to the hub before reading history,
 * so nothing committed meanwhile is missed; a bounded queue holds live events while history is
 * read, and an overflow just sends the follower back to the store.
 */
export async function* followLog(o: FollowOptions): AsyncGenerator<LogItem> {
  for await (const batch of followLogBatches(o)) yield* batch;
}

/**
 * {@link followLog} in batches: a chunk of history, or every live event queued so far. A consumer
 * that hands events on (to NATS, say) can then do so for a whole burst in one synchronous run,
 * which lets the client library send them in one write.
 */
export async function* followLogBatches(o: FollowOptions): AsyncGenerator<LogItem[]> {
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
      if (cursor < floor) {
        for await (const page of historyPages(o, cursor, floor)) {
          if (page.rows.length > 0) yield page.rows.map((r): LogItem => ({ kind: "stored", seq: decodePosition(r.position) ?? 0n, position: r.position, recordedUs: r.recordedUs, data: r.data }));
          else if (page.cursor < floor) yield [{ kind: "scanned", seq: page.cursor }];
          cursor = page.cursor;
        }
      }
      if (queue.overflowed) {
        queue.reset();
        continue;
      }
      if (o.signal.aborted) return;
      live = true;
      if (!caughtUp) {
        caughtUp = true;
        yield [{ kind: "caughtUp", seq: cursor }];
      }
      for (let events = await queue.nextBatch(o.signal); events; events = await queue.nextBatch(o.signal)) {
        const items: LogItem[] = [];
        for (const e of events) {
          if (e.seq <= cursor) continue;
          cursor = e.seq;
          items.push({ kind: "live", event: e });
        }
        if (items.length > 0) yield items;
      }
      if (o.signal.aborted || o.onLiveOverflow || !queue.overflowed) return;
      queue.reset();
    }
  } finally {
    detach();
    o.signal.removeEventListener("abort", queue.interrupt);
  }
}
