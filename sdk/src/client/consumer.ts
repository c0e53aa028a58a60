import { durationFromMs, timestampDate } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { ConsumerGroupService, type ConsumeResponse, type ConsumeResponse_Delivery } from "../gen/qingyu/broker/v1/groups_pb.js";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import type { EventType, TypedEvent } from "../catalog/catalog.js";
import { BrokerError } from "../errors.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { ConsumeRequestSchema } from "../gen/qingyu/broker/v1/groups_pb.js";
import type { SdkLogger } from "./logger.js";
import type { Rpc } from "./rpc.js";
import { consumerSpan } from "./tracing.js";
import { inSpan } from "../trace/trace-context.js";
import { Backoff, sleep, worthReconnecting } from "./backoff.js";
import { AsyncQueue } from "../fifo.js";
import { isUnknownEvent, Upcasters, type UnknownEvent } from "../event/evolution.js";

/** What a handler knows about the delivery it is working on. */
export interface DeliveryContext {
  /** 1 for the first delivery of this event to the group. */
  readonly attempt: number;
  readonly deliveryId: string;
  /** Answer before this, or call `extend()`. */
  readonly deadline: Date;
  /** Asks for more time: the deadline moves to now + `ms` (default: the group's ack deadline). */
  extend(ms?: number): void;
}

export type EventHandler = (event: Event, ctx: DeliveryContext) => unknown;
/**
 * Handlers by event type, each with its typed event, and `unknown` for events of types added to the
 * catalog after this SDK was built (type string and raw payload only; see `rawPayload`). Events of
 * a type without a handler, and unknown types without an `unknown` handler, are acknowledged: an
 * old consumer keeps up with a newer publisher. To leave an unknown type to newer members of the
 * group instead, throw `RetryLaterError` from `unknown`.
 */
export type HandlerMap = { [T in EventType]?: (event: TypedEvent<T>, ctx: DeliveryContext) => unknown } & {
  unknown?: (event: UnknownEvent, ctx: DeliveryContext) => unknown;
};

/** Throw from a handler to retry after a delay of your choosing rather than the group's backoff. */
export class RetryLaterError extends Error {
  override name = "RetryLaterError";
  constructor(
    readonly delayMs: number,
    message = `retry in ${delayMs} ms`,
  ) {
    super(message);
  }
}

/** Throw from a handler for an event that can never succeed: it is parked as a dead letter at once. */
export class RejectError extends Error {
  override name = "RejectError";
}

/** Options of {@link BrokerClient.consume}. */
export interface ConsumeOptions {
  /**
   * Deliveries handled at once (the member's max in flight).
   * @defaultValue 16
   */
  concurrency?: number;
  /** A stable member id for the group's stats; random when absent. */
  memberId?: string;
  /** Stops the consumer, as `stop()` does. */
  signal?: AbortSignal;
  /** Called when a handler fails (before the event is nacked). */
  onError?: (err: unknown, event: Event) => void;
  /** Reconnect after UNAVAILABLE or a broken stream. @defaultValue true */
  reconnect?: boolean;
  /**
   * The cap of the reconnect backoff (100 ms doubling per failed attempt, reset once a session has
   * joined the group).
   * @defaultValue 5000
   */
  maxReconnectDelayMs?: number;
  /** @defaultValue the client's logger */
  logger?: SdkLogger;
}

type Call = grpc.ClientDuplexStream<MessageInitShape<typeof ConsumeRequestSchema>, ConsumeResponse>;
const RECONNECT_BASE_MS = 100;
const DEFAULT_MAX_RECONNECT_DELAY_MS = 5_000;
/** Put in a session's inbox by stop(). */
const STOP = Symbol("stop");
const RETRYABLE = new Set<number>([grpc.status.UNAVAILABLE, grpc.status.INTERNAL, grpc.status.UNKNOWN, grpc.status.RESOURCE_EXHAUSTED]);

/**
 * A member of a consumer group, running handlers for its deliveries until stopped. Resolving
 * handlers acknowledge; throwing ones are retried by the group's policy. `stop()` lets running
 * handlers finish and answer, then leaves.
 */
export class Consumer {
  /** Resolves when the consumer has stopped; rejects with a BrokerError it could not recover from. */
  readonly done: Promise<void>;
  private call: Call | undefined;
  private stopping = false;
  private readonly running = new Set<Promise<void>>();
  /** What the session in progress reads: the stream's responses, and STOP once stop() is called. */
  private inbox: AsyncQueue<ConsumeResponse | typeof STOP> | undefined;
  /** Aborted by stop(): ends a reconnect wait at once. */
  private readonly stopped = new AbortController();
  private readonly backoff: Backoff;

  /** @internal */
  constructor(
    private readonly rpc: Rpc,
    readonly group: string,
    private readonly handler: EventHandler | HandlerMap,
    private readonly options: ConsumeOptions,
    private readonly upcasters: Upcasters = new Upcasters(),
  ) {
    this.backoff = new Backoff({ baseMs: RECONNECT_BASE_MS, maxMs: options.maxReconnectDelayMs ?? DEFAULT_MAX_RECONNECT_DELAY_MS, jitter: 0.5 });
    const onAbort = () => void this.stop();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    this.done = this.loop().finally(() => options.signal?.removeEventListener("abort", onAbort));
    // Observed by stop() and by callers who await it; never an unhandled rejection otherwise.
    this.done.catch(() => undefined);
  }

  /** Lets running handlers finish and answer, then leaves the group. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.stopped.abort();
    this.inbox?.push(STOP);
    await this.done.catch(() => undefined);
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        await this.session();
      } catch (err) {
        const e = BrokerError.from(err);
        if (this.stopping) return;
        if (this.options.reconnect === false || !worthReconnecting(e, RETRYABLE)) throw e;
        const delayMs = this.backoff.next();
        this.options.logger?.warn({ group: this.group, code: e.code, attempt: this.backoff.attempts, delayMs }, "consumer reconnecting");
        await sleep(delayMs, this.stopped.signal);
      }
    }
  }

  /**
   * One Consume stream: join, handle deliveries, until the stream ends or we stop. Deliveries that
   * arrive after stop() are still handled, until the broker ends the stream we half-closed.
   */
  private async session(): Promise<void> {
    const call = this.rpc.bidi(ConsumerGroupService.method.consume) as unknown as Call;
    this.call = call;
    const inbox = new AsyncQueue<ConsumeResponse | typeof STOP>();
    this.inbox = inbox;
    call.on("data", (res: ConsumeResponse) => inbox.push(res));
    call.on("end", () => inbox.close());
    call.on("error", (err: Error) => inbox.close(err));
    call.write({ kind: { case: "join", value: { group: this.group, memberId: this.options.memberId ?? "", maxInFlight: this.options.concurrency ?? 16 } } });
    if (this.stopping) inbox.push(STOP);
    let leaving: Promise<void> | undefined;
    try {
      for await (const item of inbox) {
        if (item !== STOP) this.onResponse(call, item);
        else leaving ??= this.leave(call);
      }
    } catch (err) {
      if (!leaving) throw err;
    }
    if (!leaving) throw new BrokerError(grpc.status.UNAVAILABLE, "consume stream ended by the broker");
    await leaving;
  }

  /** Lets running handlers answer on this stream, then half-closes it: the broker ends it. */
  private async leave(call: Call): Promise<void> {
    await Promise.allSettled([...this.running]);
    call.end();
  }

  private onResponse(call: Call, res: ConsumeResponse): void {
    // A session that joined the group was a success: the next failure starts the backoff over.
    if (res.kind.case === "joined") this.backoff.reset();
    if (res.kind.case !== "delivery") return;
    const task = this.handle(call, res.kind.value).finally(() => this.running.delete(task));
    this.running.add(task);
  }

  private pick(event: Event): EventHandler | undefined {
    if (typeof this.handler === "function") return this.handler;
    // Unknown by its payload case, not its type string: only the case says the payload was decoded.
    if (isUnknownEvent(event)) {
      if (!this.handler.unknown) this.options.logger?.debug({ group: this.group, type: event.type }, "acknowledged an event of a type this SDK does not know");
      return this.handler.unknown as EventHandler | undefined;
    }
    return (this.handler as Record<string, EventHandler | undefined>)[event.type];
  }

  private async handle(call: Call, d: ConsumeResponse_Delivery): Promise<void> {
    const event = d.event as Event;
    const send = (req: MessageInitShape<typeof ConsumeRequestSchema>) => {
      if (!call.writableEnded && !call.destroyed) call.write(req);
    };
    const ctx: DeliveryContext = {
      attempt: d.attempt,
      deliveryId: d.deliveryId,
      deadline: d.deadline ? timestampDate(d.deadline) : new Date(),
      extend: (ms) => send({ kind: { case: "extend", value: { deliveryId: d.deliveryId, ...(ms === undefined ? {} : { by: durationFromMs(ms) }) } } }),
    };
    try {
      this.upcasters.apply(event);
      const span = consumerSpan(event, "consume", { name: this.group, attempt: d.attempt });
      await inSpan(span, () => this.pick(event)?.(event, ctx));
      send({ kind: { case: "ack", value: { deliveryIds: [d.deliveryId] } } });
    } catch (err) {
      this.options.onError?.(err, event);
      const error = err instanceof Error ? err.message : String(err);
      if (err instanceof RejectError) send({ kind: { case: "reject", value: { deliveryId: d.deliveryId, error } } });
      else if (err instanceof RetryLaterError) send({ kind: { case: "nack", value: { deliveryId: d.deliveryId, error, delay: durationFromMs(err.delayMs) } } });
      else send({ kind: { case: "nack", value: { deliveryId: d.deliveryId, error } } });
    }
  }
}
