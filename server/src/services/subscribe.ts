import { create } from "@bufbuild/protobuf";
import { SubscribeResponseSchema, type SubscribeRequest } from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { invalidRequest, slowConsumer } from "../errors.js";
import type { HandlerContext } from "../grpc/bind.js";
import type { EventStore, StoreFilter } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import { messageWithField } from "./encode.js";
import { compileFilter, timeBounds } from "./filter.js";
import type { EventMeta, HubEvent, LiveHub } from "./live-hub.js";
import type { BrokerMetrics } from "../metrics.js";

export const CATCH_UP_CHUNK = 512;
/** A checkpoint goes out after this many filtered-out events, or this long without a message. */
export const CHECKPOINT_EVERY_EVENTS = 1_000;
export const CHECKPOINT_EVERY_MS = 5_000;

export interface SubscribeDeps {
  store: EventStore;
  hub: LiveHub;
  /** Live events a subscriber may have waiting before it is cut off as too slow. */
  maxBuffered: number;
  metrics?: Pick<BrokerMetrics, "subscribers" | "deliveries" | "slowConsumers">;
}

/** An in-memory test of a compiled filter, for live events. */
export function matcher(filter: StoreFilter): (m: EventMeta) => boolean {
  const types = filter.types && new Set(filter.types);
  const sources = filter.sources && new Set(filter.sources);
  const subject = filter.subject;
  return (m) =>
    (!types || types.has(m.type)) &&
    (!sources || sources.has(m.source)) &&
    (!subject || ("exact" in subject ? m.subject === subject.exact : m.subject.startsWith(subject.prefix))) &&
    (filter.correlationId === undefined || m.correlationId === filter.correlationId);
}

/**
 * Live events for one subscriber, bounded. Attached to the hub before the catch-up starts, so
 * nothing committed meanwhile is missed; while the subscriber reads history, an overflow just drops
 * the queue and moves the floor (the history read then goes further), but once live, an overflow
 * means the subscriber cannot keep up.
 */
class LiveQueue {
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

async function startSeq(req: SubscribeRequest, store: EventStore, floor: bigint): Promise<{ seq: bigint; fromUs?: number }> {
  switch (req.start.case) {
    case "afterPosition": {
      const seq = decodePosition(req.start.value);
      if (seq === undefined) throw invalidRequest("after_position", "position", "'after_position' is not a position this broker issued");
      return { seq };
    }
    case "fromBeginning":
      return { seq: 0n };
    case "fromTime": {
      const { fromUs } = timeBounds(req.start.value, undefined);
      const [first] = await store.scan({ filter: {}, ...(fromUs === undefined ? {} : { fromUs }), limit: 1 });
      // Nothing recorded since then: everything from the time on is still to come, live.
      const seq = first ? (decodePosition(first.position) ?? 1n) - 1n : floor;
      return { seq, ...(fromUs === undefined ? {} : { fromUs }) };
    }
    default:
      return { seq: floor };
  }
}

const caughtUp = (position: string) => create(SubscribeResponseSchema, { kind: { case: "caughtUp", value: { position } } });
const checkpoint = (position: string) => create(SubscribeResponseSchema, { kind: { case: "checkpoint", value: { position } } });

/** The Subscribe handler: catch-up from the store, then live events from the hub. */
export function subscribeHandler({ store, hub, maxBuffered, metrics }: SubscribeDeps) {
  return async function* subscribe(req: SubscribeRequest, ctx: HandlerContext): AsyncIterable<Uint8Array | ReturnType<typeof caughtUp>> {
    const filter = compileFilter(req.filter);
    const matches = matcher(filter);
    let cursor = 0n;
    const queue = new LiveQueue(hub, maxBuffered, () => {
      // Live phase only: during catch-up an overflow just moves the floor.
      if (!live) return;
      metrics?.slowConsumers.inc();
      ctx.end(slowConsumer(encodePosition(cursor)));
    });
    metrics?.subscribers.inc();
    let live = false;
    const detach = hub.attach(queue.push);
    ctx.signal.addEventListener("abort", queue.interrupt, { once: true });
    try {
      const start = await startSeq(req, store, queue.floor);
      cursor = start.seq;
      // History: read the store up to the queue's floor; everything after it is in the queue.
      for (;;) {
        while (cursor < queue.floor && !ctx.signal.aborted) {
          const rows = await store.scan({ filter, afterPosition: encodePosition(cursor), beforePosition: encodePosition(queue.floor + 1n), limit: CATCH_UP_CHUNK });
          for (const r of rows) yield messageWithField(1, r.data);
          cursor = rows.length === CATCH_UP_CHUNK ? (decodePosition(rows.at(-1)?.position ?? "") ?? queue.floor) : queue.floor;
        }
        if (!queue.overflowed) break;
        queue.reset();
      }
      live = true;
      yield caughtUp(encodePosition(cursor));
      let skipped = 0;
      let lastSent = Date.now();
      for (let e = await queue.next(ctx.signal); e; e = await queue.next(ctx.signal)) {
        if (e.seq <= cursor) continue;
        cursor = e.seq;
        if (matches(e.meta) && (start.fromUs === undefined || e.recordedUs >= start.fromUs)) {
          skipped = 0;
          lastSent = Date.now();
          metrics?.deliveries.inc();
          yield e.frame;
        } else if (++skipped >= CHECKPOINT_EVERY_EVENTS || Date.now() - lastSent >= CHECKPOINT_EVERY_MS) {
          skipped = 0;
          lastSent = Date.now();
          yield checkpoint(e.position);
        }
      }
    } finally {
      metrics?.subscribers.dec();
      detach();
      ctx.signal.removeEventListener("abort", queue.interrupt);
    }
  };
}
