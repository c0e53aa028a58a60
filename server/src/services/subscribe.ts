import { create } from "@bufbuild/protobuf";
import { SubscribeResponseSchema, type SubscribeRequest } from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { invalidRequest, slowConsumer } from "../errors.js";
import type { HandlerContext } from "./handler-context.js";
import type { EventStore } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import { messageWithField } from "./encode.js";
import { assertFitsMessage } from "./page-budget.js";
import { compileFilter, timeBounds } from "./filter.js";
import type { EventMeta, LiveHub } from "./live-hub.js";
import { followLog, seqBeforeTime } from "./follow-log.js";
import { matcher } from "./matcher.js";
import type { BrokerMetrics } from "../metrics.js";

/** A checkpoint goes out after this many filtered-out events, or this long without a message. */
export const CHECKPOINT_EVERY_EVENTS = 1_000;
export const CHECKPOINT_EVERY_MS = 5_000;

export interface SubscribeDeps {
  store: EventStore;
  hub: LiveHub;
  /** Live events a subscriber may have waiting before it is cut off as too slow. */
  maxBuffered: number;
  /** The gRPC message limit: an event stored under a larger one ends the stream with TOO_LARGE. */
  maxMessageBytes: number;
  /** Events one catch-up read examines at most for a filter with a `where`. */
  whereScanRows?: number;
  metrics?: Pick<BrokerMetrics, "subscribers" | "deliveries" | "slowConsumers">;
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
      return { seq: await seqBeforeTime(store, fromUs, floor), ...(fromUs === undefined ? {} : { fromUs }) };
    }
    default:
      return { seq: floor };
  }
}

const caughtUp = (position: string) => create(SubscribeResponseSchema, { kind: { case: "caughtUp", value: { position } } });
const checkpoint = (position: string) => create(SubscribeResponseSchema, { kind: { case: "checkpoint", value: { position } } });

/** The Subscribe handler: catch-up from the store, then live events from the hub. */
export function subscribeHandler({ store, hub, maxBuffered, maxMessageBytes, whereScanRows, metrics }: SubscribeDeps) {
  return async function* subscribe(req: SubscribeRequest, ctx: HandlerContext): AsyncIterable<Uint8Array | ReturnType<typeof caughtUp>> {
    const filter = compileFilter(req.filter);
    ctx.access.read(filter.types);
    const matches = matcher(filter);
    let cursor = 0n;
    let fromUs: number | undefined;
    metrics?.subscribers.inc();
    try {
      const items = followLog({
        store,
        hub,
        filter,
        maxBuffered,
        ...(whereScanRows === undefined ? {} : { whereScanRows }),
        signal: ctx.signal,
        start: async (hubSeq) => {
          const start = await startSeq(req, store, hubSeq);
          fromUs = start.fromUs;
          return (cursor = start.seq);
        },
        onLiveOverflow: () => {
          metrics?.slowConsumers.inc();
          ctx.end(slowConsumer(encodePosition(cursor)));
        },
      });
      let skipped = 0;
      let lastSent = Date.now();
      for await (const item of items) {
        if (item.kind === "stored") {
          cursor = item.seq;
          assertFitsMessage(item.data.length, maxMessageBytes, `event at position '${encodePosition(item.seq)}'`);
          yield messageWithField(1, item.data);
        } else if (item.kind === "caughtUp") {
          cursor = item.seq;
          yield caughtUp(encodePosition(item.seq));
        } else if (item.kind === "scanned") {
          // A catch-up with a `where` read a stretch of history without a match: resume past it.
          cursor = item.seq;
          yield checkpoint(encodePosition(item.seq));
        } else {
          const e = item.event;
          cursor = e.seq;
          if (matches(e.meta, e.data) && (fromUs === undefined || e.recordedUs >= fromUs)) {
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
      }
    } finally {
      metrics?.subscribers.dec();
    }
  };
}
