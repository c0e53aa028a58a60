import { timestampFromDate, timestampFromMs, type Timestamp } from "@bufbuild/protobuf/wkt";
import { status } from "@grpc/grpc-js";
import { EventBrokerService, type EventFilter, type SubscribeRequest } from "../gen/qingyu/broker/v1/broker_pb.js";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { BrokerError } from "../errors.js";
import { Backoff, sleep, worthReconnecting } from "./backoff.js";
import type { SdkLogger } from "./logger.js";
import type { Upcasters } from "../event/evolution.js";
import type { Rpc } from "./rpc.js";

/** Where a subscription starts. */
export type SubscribeFrom =
  /** Only events committed from now on. */
  | "now"
  /** Every stored event, then live. */
  | "beginning"
  /** Events recorded at or after this time (a Date, a Timestamp or epoch milliseconds), then live. */
  | Date
  | Timestamp
  | number
  /** Events after this position (resume), then live. */
  | { afterPosition: string };

/** Options of {@link BrokerClient.subscribe}. */
export interface SubscribeOptions {
  /** @defaultValue "now" */
  from?: SubscribeFrom;
  /** Ends the subscription: the loop ends without an error. */
  signal?: AbortSignal;
  /** Called once, when history is done and events are live. */
  onCaughtUp?: (position: string) => void;
  /** Called with each checkpoint (a resume point while few events match). */
  onCheckpoint?: (position: string) => void;
  /**
   * Reconnect after UNAVAILABLE, RESOURCE_EXHAUSTED (too slow) or a broken stream, resuming after
   * the last position received, so no event is lost or repeated. An event too large to send
   * (RESOURCE_EXHAUSTED with reason TOO_LARGE) ends the subscription instead: it would come again.
   * @defaultValue true
   */
  reconnect?: boolean;
  /** @defaultValue 5000 */
  maxReconnectDelayMs?: number;
  /**
   * Called before each reconnection, with why the stream ended (undefined when the server closed
   * it), the attempt number (1 for the first retry after a success) and the delay before it.
   */
  onReconnect?: (error: BrokerError | undefined, attempt: number, delayMs: number) => void;
}

const RECONNECT_BASE_MS = 100;
const DEFAULT_MAX_RECONNECT_DELAY_MS = 5_000;
const RETRYABLE = new Set<number>([status.UNAVAILABLE, status.RESOURCE_EXHAUSTED, status.INTERNAL, status.UNKNOWN, status.DEADLINE_EXCEEDED]);

function startOf(from: SubscribeFrom | undefined): SubscribeRequest["start"] {
  if (from === undefined || from === "now") return { case: "fromNow", value: true };
  if (from === "beginning") return { case: "fromBeginning", value: true };
  if (from instanceof Date) return { case: "fromTime", value: timestampFromDate(from) };
  if (typeof from === "number") return { case: "fromTime", value: timestampFromMs(from) };
  if ("afterPosition" in from) return { case: "afterPosition", value: from.afterPosition };
  return { case: "fromTime", value: from };
}

/**
 * @internal The subscription loop: history, then live events; on a retryable failure it reconnects
 * after the last position it received (event, caught-up marker or checkpoint).
 */
export async function* subscription(rpc: Rpc, filter: EventFilter, options: SubscribeOptions, upcasters: Upcasters, logger?: SdkLogger): AsyncIterable<Event> {
  const { signal } = options;
  const backoff = new Backoff({ baseMs: RECONNECT_BASE_MS, maxMs: options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS, jitter: 0.5 });
  let resumeAfter: string | undefined;
  let caughtUp = false;
  let ended: BrokerError | undefined;
  while (!signal?.aborted) {
    const start = resumeAfter === undefined ? startOf(options.from) : ({ case: "afterPosition", value: resumeAfter } as const);
    // Why the stream ended: a subscription has no natural end, so the server closing it (e.g. a
    // restart) is a reason to reconnect too.
    let code: number = status.UNAVAILABLE;
    try {
      for await (const res of rpc.serverStream(EventBrokerService.method.subscribe, { filter, start }, signal ? { signal } : {})) {
        backoff.reset();
        switch (res.kind.case) {
          case "event":
            resumeAfter = res.kind.value.position;
            yield upcasters.apply(res.kind.value);
            break;
          case "caughtUp":
            resumeAfter = res.kind.value.position;
            if (!caughtUp) options.onCaughtUp?.(res.kind.value.position);
            caughtUp = true;
            break;
          case "checkpoint":
            resumeAfter = res.kind.value.position;
            options.onCheckpoint?.(res.kind.value.position);
            break;
        }
      }
    } catch (err) {
      const e = BrokerError.from(err);
      if (signal?.aborted) return;
      if (options.reconnect === false || !worthReconnecting(e, RETRYABLE)) throw e;
      ended = e;
      code = e.code;
    }
    if (options.reconnect === false) return;
    const delayMs = backoff.next();
    logger?.warn({ code, attempt: backoff.attempts, delayMs }, "subscription reconnecting");
    options.onReconnect?.(ended, backoff.attempts, delayMs);
    ended = undefined;
    await sleep(delayMs, signal);
  }
}
