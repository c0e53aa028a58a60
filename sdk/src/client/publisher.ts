import { once } from "node:events";
import * as grpc from "@grpc/grpc-js";
import { EventBrokerService, type PublishStreamResponse } from "../gen/qingyu/broker/v1/broker_pb.js";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { BrokerError } from "../errors.js";
import { Fifo } from "../fifo.js";
import type { Rpc } from "./rpc.js";
import { toPublishResult, type PublishResult } from "./results.js";
import { describeProducer, producerSpan } from "./tracing.js";
import { formatTraceparent, inSpan } from "../trace/trace-context.js";

/** Options of {@link StreamPublisher}. */
export interface PublisherOptions {
  /**
   * Events sent and not yet acknowledged; `publish()` waits for a slot beyond it.
   * @defaultValue 1000
   */
  window?: number;
  /** Ends the stream; pending publishes reject with CANCELLED. */
  signal?: AbortSignal;
}

interface Pending {
  id: string;
  resolve: (r: PublishResult) => void;
  reject: (e: unknown) => void;
}

export const DEFAULT_PUBLISH_WINDOW = 1_000;

/**
 * A high-throughput publisher over one PublishStream: many events in flight, one acknowledgement
 * each, in order. A refused event rejects its own promise only. If the stream breaks, the events
 * waiting for acknowledgement reject with the stream's error (UNAVAILABLE…); publish them again with
 * the same ids, which is safe, and the next `publish()` opens a new stream.
 */
export class StreamPublisher {
  private call: grpc.ClientDuplexStream<{ event: Event }, PublishStreamResponse> | undefined;
  private readonly pending = new Fifo<Pending>();
  private readonly waiters = new Fifo<() => void>();
  private readonly window: number;
  private idleWaiters: (() => void)[] = [];
  private drained: Promise<unknown> | undefined;
  /** Slots handed to waiters that have not pushed their pending entry yet. */
  private granted = 0;

  /** @internal */
  constructor(
    private readonly rpc: Rpc,
    private readonly prepare: (event: Event, traceparent?: string) => Event,
    private readonly options: PublisherOptions = {},
  ) {
    this.window = Math.max(1, options.window ?? DEFAULT_PUBLISH_WINDOW);
  }

  /** Events sent and not yet acknowledged. */
  get inFlight(): number {
    return this.pending.length;
  }

  /**
   * Sends an event; resolves with its acknowledgement (durable), rejects with a BrokerError.
   * @throws BrokerError INVALID_ARGUMENT when the event breaks a catalog rule (checked locally)
   */
  publish(event: Event): Promise<PublishResult> {
    // The producer span lasts until the acknowledgement: the event is sent when it is durable.
    const span = producerSpan([event]);
    return inSpan(span, () => {
      const prepared = this.prepare(event, formatTraceparent(span.spanContext()));
      describeProducer(span, [prepared]);
      return this.send(prepared);
    });
  }

  private async send(prepared: Event): Promise<PublishResult> {
    if (this.pending.length + this.granted >= this.window || this.waiters.length > 0) {
      await new Promise<void>((resolve) => this.waiters.push(resolve));
      this.granted--;
    }
    const call = this.open();
    const ack = new Promise<PublishResult>((resolve, reject) => this.pending.push({ id: prepared.id, resolve, reject }));
    // Publishes beyond grpc-js's buffer wait for one shared 'drain', not one listener each.
    if (!call.write({ event: prepared })) {
      this.drained ??= once(call, "drain").then(
        () => (this.drained = undefined),
        () => (this.drained = undefined),
      );
      await this.drained;
    }
    return ack;
  }

  /** Waits until every event sent so far is acknowledged (or failed). */
  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Flushes, then ends the stream. */
  async close(): Promise<void> {
    await this.flush();
    const call = this.call;
    this.call = undefined;
    if (call) {
      call.end();
      await once(call, "close").catch(() => undefined);
    }
  }

  private release(): void {
    while (this.waiters.length > 0 && this.pending.length + this.granted < this.window) {
      this.granted++;
      this.waiters.shift()?.();
    }
    if (this.pending.length === 0 && this.granted === 0) {
      const idle = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of idle) w();
    }
  }

  private open(): grpc.ClientDuplexStream<{ event: Event }, PublishStreamResponse> {
    if (this.call) return this.call;
    const call = this.rpc.bidi(EventBrokerService.method.publishStream, this.options.signal ? { signal: this.options.signal } : {});
    this.call = call as unknown as grpc.ClientDuplexStream<{ event: Event }, PublishStreamResponse>;
    call.on("data", (ack: PublishStreamResponse) => this.onAck(ack));
    call.on("error", (err: unknown) => this.fail(call, BrokerError.from(err)));
    call.on("end", () => this.fail(call, new BrokerError(grpc.status.UNAVAILABLE, "publish stream ended before every event was acknowledged")));
    return this.call;
  }

  private onAck(ack: PublishStreamResponse): void {
    const p = this.pending.shift();
    if (p) {
      if (ack.error) p.reject(BrokerError.fromStatus(ack.error));
      else p.resolve(toPublishResult(ack));
    }
    this.release();
  }

  private fail(call: unknown, err: BrokerError): void {
    if (this.call === call) this.call = undefined;
    for (let p = this.pending.shift(); p; p = this.pending.shift()) p.reject(err);
    this.release();
  }
}
