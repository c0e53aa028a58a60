import { fromBinary } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import type { RemoteEvent } from "../bus/event-bus.js";
import type { EventStore } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import { messageWithField } from "./encode.js";

/** What live subscriptions filter on (and the id, for forwarding). */
export interface EventMeta {
  readonly id: string;
  readonly type: string;
  readonly source: string;
  readonly subject: string;
  readonly correlationId: string;
  /** The envelope's W3C traceparent ("" when none). */
  readonly traceparent?: string | undefined;
}

/** An event on its way to live subscribers, encoded once for all of them. */
export interface HubEvent {
  readonly seq: bigint;
  readonly position: string;
  readonly recordedUs: number;
  readonly meta: EventMeta;
  /** The stored envelope bytes. */
  readonly data: Uint8Array;
  /** SubscribeResponse{event} bytes, shared by every subscriber. */
  readonly frame: Uint8Array;
}

/** A local commit offered to the hub (meta known, no decoding needed). */
export interface LocalEvent extends EventMeta {
  readonly position: string;
  readonly recordedUs: number;
  readonly data: Uint8Array;
}

export interface LiveHubOptions {
  /** How long an out-of-order event waits for the ones before it before the store is read. */
  gapWaitMs?: number;
  /** How often the store's head is compared with what the hub has seen. */
  headPollMs?: number;
  /** Out-of-order events held at most; beyond it the hub reads the store. */
  maxReorder?: number;
  /** Called each time a listener throws (it is logged too; the other listeners still get the event). */
  onListenerError?: (err: unknown) => void;
}

const FILL_CHUNK = 1_000;

/** Just the filtering fields (and id) of a decoded event, which carries much more. */
export function eventMeta(e: EventMeta): EventMeta {
  return { id: e.id, type: e.type, source: e.source, subject: e.subject, correlationId: e.correlationId, traceparent: e.traceparent };
}

/** A hub event from stored bytes (decoded once, for the meta and, when unknown, the recorded time). */
function fromStored(position: string, data: Uint8Array, recordedUs?: number): HubEvent {
  const e = fromBinary(EventSchema, data);
  const meta = eventMeta(e);
  const rec = e.recordedTime;
  const us = recordedUs ?? (rec ? Number(rec.seconds) * 1e6 + Math.floor(rec.nanos / 1000) : 0);
  return { seq: decodePosition(position) ?? 0n, position, recordedUs: us, meta, data, frame: messageWithField(1, data) };
}

/**
 * The single, ordered stream of committed events inside one broker. Local commits and other
 * brokers' events (from the bus) arrive in any order and possibly with holes; the hub emits them
 * strictly by position, each exactly once, and fills holes from the store: after a short wait for
 * an out-of-order event, on a bus reconnect, and whenever the store's head is ahead of it.
 */
export class LiveHub {
  private last = 0n;
  private readonly pending = new Map<bigint, HubEvent>();
  private readonly listeners = new Set<(e: HubEvent) => void>();
  private gapTimer: NodeJS.Timeout | undefined;
  private filling: Promise<void> | undefined;
  private refill = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private readonly gapWaitMs: number;
  private readonly maxReorder: number;

  constructor(
    private readonly store: EventStore,
    private readonly log: Logger,
    private readonly options: LiveHubOptions = {},
  ) {
    this.gapWaitMs = options.gapWaitMs ?? 25;
    this.maxReorder = options.maxReorder ?? 10_000;
  }

  /** Starts at the store's head: only events committed from now on go live. */
  async start(): Promise<void> {
    this.last = decodePosition(await this.store.headPosition()) ?? 0n;
    this.pollTimer = setInterval(() => void this.pollHead(), this.options.headPollMs ?? 250);
    this.pollTimer.unref();
  }

  /** Sequence number of the last event emitted. */
  get lastSeq(): bigint {
    return this.last;
  }

  /** Adds a listener; it receives every later event, in position order. Returns the remover. */
  attach(listener: (e: HubEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get listenerCount(): number {
    return this.listeners.size;
  }

  /** Events this broker just committed, in position order. */
  offerLocal(events: readonly LocalEvent[]): void {
    for (const e of events) {
      const { position, recordedUs, data, ...meta } = e;
      this.offer({ seq: decodePosition(position) ?? 0n, position, recordedUs, meta, data, frame: messageWithField(1, data) });
    }
  }

  /** An event another broker committed. */
  offerRemote(e: RemoteEvent): void {
    const seq = decodePosition(e.position);
    if (seq === undefined || seq <= this.last || this.pending.has(seq)) return;
    try {
      this.offer(fromStored(e.position, e.data));
    } catch (err) {
      // why: a message on our subjects that is not an envelope; the store has the real event.
      this.log.warn({ err, position: e.position }, "undecodable event on the bus");
      this.resync();
    }
  }

  private offer(e: HubEvent): void {
    if (e.seq <= this.last) return;
    if (e.seq === this.last + 1n && !this.filling) {
      this.emit(e);
      this.drainPending();
      return;
    }
    this.pending.set(e.seq, e);
    if (this.pending.size > this.maxReorder) this.resync();
    else this.gapTimer ??= setTimeout(() => this.resync(), this.gapWaitMs);
  }

  private emit(e: HubEvent): void {
    this.last = e.seq;
    // Each listener fails alone: one that throws must not cost the later ones this event.
    for (const l of this.listeners) {
      try {
        l(e);
      } catch (err) {
        this.log.error({ err, position: e.position }, "live hub listener failed");
        this.options.onListenerError?.(err);
      }
    }
  }

  private drainPending(): void {
    if (this.pending.size === 0) return;
    for (let next = this.pending.get(this.last + 1n); next; next = this.pending.get(this.last + 1n)) {
      this.pending.delete(next.seq);
      this.emit(next);
    }
    if (this.pending.size === 0 && this.gapTimer) {
      clearTimeout(this.gapTimer);
      this.gapTimer = undefined;
    }
  }

  /** Reads from the store everything after the last emitted event, up to the store's head. */
  resync(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.gapTimer = undefined;
    if (this.filling) {
      this.refill = true;
      return;
    }
    this.filling = this.fill()
      .catch((err: unknown) => {
        this.log.warn({ err }, "live hub could not read the store; retrying");
        this.gapTimer ??= setTimeout(() => this.resync(), 500);
      })
      .finally(() => {
        this.filling = undefined;
        this.drainPending();
        if (this.refill) {
          this.refill = false;
          this.resync();
        }
      });
  }

  private async fill(): Promise<void> {
    const head = decodePosition(await this.store.headPosition()) ?? 0n;
    while (this.last < head) {
      const rows = await this.store.scan({ filter: {}, afterPosition: encodePosition(this.last), beforePosition: encodePosition(head + 1n), limit: FILL_CHUNK });
      if (rows.length === 0) {
        // Expired by retention, or a position never used: skip the hole.
        this.last = head;
        break;
      }
      for (const r of rows) {
        const seq = decodePosition(r.position) ?? 0n;
        const held = this.pending.get(seq);
        this.pending.delete(seq);
        this.emit(held ?? fromStored(r.position, r.data, r.recordedUs));
      }
    }
    for (const seq of this.pending.keys()) if (seq <= this.last) this.pending.delete(seq);
  }

  private async pollHead(): Promise<void> {
    if (this.filling) return;
    try {
      const head = decodePosition(await this.store.headPosition()) ?? 0n;
      // Behind the store (a message lost, or a broker sharing the file without NATS): wait a moment
      // for the bus, then read the store.
      if (head > this.last) this.gapTimer ??= setTimeout(() => this.resync(), this.gapWaitMs);
    } catch (err) {
      this.log.debug({ err }, "head poll failed");
    }
  }

  close(): void {
    if (this.pollTimer) clearInterval(this.pollTimer);
    if (this.gapTimer) clearTimeout(this.gapTimer);
    this.listeners.clear();
  }
}
