// The event log mirrored into a JetStream stream, so consumer groups can be JetStream durable
// consumers (ack wait, redelivery, backoff, max deliveries) shared by every broker replica.
import { headers, type NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { catalogEntry, type EventType } from "../../../sdk/src/catalog/catalog.js";
import type { EventStore } from "../store/event-store.js";
import { encodePosition } from "../store/position.js";
import { followLogBatches } from "./follow-log.js";
import { eventMeta, type EventMeta, type LiveHub } from "./live-hub.js";
import { eventFromBinary } from "../../../sdk/src/event/codec.js";
import { JetStreamPublisher } from "../bus/jetstream-publisher.js";
import { AsyncQueue } from "../../../sdk/src/fifo.js";
import { HEADER_ID, HEADER_POSITION, HEADER_TRACEPARENT, HEADER_TYPE } from "../bus/nats-bus.js";

export const HEADER_SOURCE = "Event-Source";
export const HEADER_SUBJECT = "Event-Subject";
export const HEADER_CORRELATION = "Event-Correlation";
const WATERMARK_KEY = "jetstream/forwarded";
const IN_FLIGHT = 1_000;
const NS_PER_MS = 1_000_000;

/** Where the mirrored log lives. Kept apart from the core fan-out subjects, which it must not capture. */
export interface DurableLogNames {
  stream: string;
  /** `<prefix>_durable`: events go to `<root>.<domain>.<type>`, redrives to `<root>._redrive.<group>`. */
  root: string;
}

export function durableLogNames(subjectPrefix: string): DurableLogNames {
  return { stream: `QINGYU_${subjectPrefix.toUpperCase().replace(/[^A-Z0-9]/g, "_")}`, root: `${subjectPrefix}_durable` };
}

export function durableSubject(names: DurableLogNames, type: string): string {
  return `${names.root}.${catalogEntry(type as EventType)?.domain ?? "unknown"}.${type}`;
}

export interface JetStreamLogOptions {
  nc: NatsConnection;
  store: EventStore;
  hub: LiveHub;
  names: DurableLogNames;
  retentionMs: number;
  log: Logger;
}

/**
 * Copies every committed event, in position order, into the stream, with the event id as the
 * JetStream message id: every replica forwards, and JetStream's duplicate window keeps one copy.
 * The forwarded position is kept in the store, so a restarted broker resumes where the log was
 * mirrored up to instead of from the beginning.
 */
export class JetStreamLog {
  readonly js: JetStreamClient;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private acked = 0n;
  private saved = 0n;

  private constructor(
    readonly jsm: JetStreamManager,
    private readonly o: JetStreamLogOptions,
  ) {
    this.js = jetstream(o.nc);
  }

  static async open(o: JetStreamLogOptions): Promise<JetStreamLog> {
    const jsm = await jetstreamManager(o.nc);
    const config = {
      name: o.names.stream,
      subjects: [`${o.names.root}.>`],
      max_age: o.retentionMs * NS_PER_MS,
      duplicate_window: 2 * 60_000 * NS_PER_MS,
    };
    // Only a missing stream is created; a timeout or a permission error fails start-up as itself.
    const exists = await jsm.streams.info(o.names.stream).then(
      () => true,
      (err: unknown) => {
        if (isJetStreamNotFound(err, JetStreamApiCodes.StreamNotFound)) return false;
        throw err;
      },
    );
    if (exists) await jsm.streams.update(o.names.stream, { max_age: config.max_age, duplicate_window: config.duplicate_window });
    else await jsm.streams.add(config);
    return new JetStreamLog(jsm, o);
  }

  /**
   * Starts mirroring (idempotent). Called when the first consumer group needs the stream, so a
   * broker without groups pays nothing for it.
   */
  ensureRunning(): void {
    if (this.running) return;
    this.running = (async () => {
      while (!this.abort.signal.aborted) {
        try {
          await this.forward();
        } catch (err) {
          if (this.abort.signal.aborted) return;
          this.o.log.warn({ err }, "forwarding to JetStream failed; resuming from the last acknowledged position");
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    })();
  }

  private async forward(): Promise<void> {
    const saved = await this.o.store.kvGet(WATERMARK_KEY);
    const from = saved ? BigInt(Buffer.from(saved).toString()) : 0n;
    this.acked = from;
    let failedAt: bigint | undefined;
    // Publishes in the order they were made. The watermark moves only over a run of acknowledged
    // ones from the oldest: acknowledgements can come back out of order (one lost in a reconnect
    // times out after later ones succeeded), and moving to the highest acknowledged position would
    // then skip the lost event for good.
    // At most IN_FLIGHT unacknowledged: the queue's bound holds the next publish back.
    const sent = new AsyncQueue<{ seq: bigint; acked: boolean }>(IN_FLIGHT);
    const settled = () => {
      while (sent.peek()?.acked) this.acked = (sent.shift() as { seq: bigint }).seq;
    };
    // A refused or unanswered event ends this run at once (not at the next event, which may be long
    // in coming): forwarding starts over from the watermark.
    const restart = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, restart.signal]);
    const publisher = new JetStreamPublisher(this.o.nc);
    const timer = setInterval(() => void this.save(), 500);
    try {
      // A batch (a chunk of history, or the live events queued meanwhile) is published in one
      // synchronous run, so the NATS client sends it in one write rather than one per event.
      for await (const batch of followLogBatches({ store: this.o.store, hub: this.o.hub, filter: {}, maxBuffered: 50_000, signal, start: async () => from })) {
        for (const item of batch) {
          if (item.kind === "caughtUp" || item.kind === "scanned") continue;
          if (failedAt !== undefined) throw new Error(`JetStream did not acknowledge position ${encodePosition(failedAt)}`);
          const seq = item.kind === "live" ? item.event.seq : item.seq;
          const data = item.kind === "live" ? item.event.data : item.data;
          const meta: EventMeta = item.kind === "live" ? item.event.meta : eventMeta(eventFromBinary(data));
          const entry = { seq, acked: false };
          sent.push(entry);
          publisher.publish(durableSubject(this.o.names, meta.type), data, eventHeaders(meta, encodePosition(seq), meta.id)).then(
            () => {
              entry.acked = true;
              settled();
            },
            () => {
              // Never acknowledged: the watermark stops before it, and forwarding starts over
              // from the watermark (the stream's duplicate window drops what it already has).
              if (failedAt === undefined || seq < failedAt) failedAt = seq;
              restart.abort();
              // Nothing more is sent in this run: waiting for room or for the rest ends now.
              sent.close();
              settled();
            },
          );
          // Only when full: an await per event would split the batch's synchronous run.
          if (sent.full) await sent.waitForRoom();
        }
      }
      await sent.drained();
      if (failedAt !== undefined) throw new Error(`JetStream did not acknowledge position ${encodePosition(failedAt)}`);
    } finally {
      clearInterval(timer);
      publisher.close();
      await this.save();
    }
  }

  private async save(): Promise<void> {
    if (this.acked <= this.saved) return;
    const value = this.acked;
    await this.o.store.kvWrite([{ key: WATERMARK_KEY, value: Buffer.from(value.toString()) }]).then(
      () => void (this.saved = value),
      (err: unknown) => this.o.log.warn({ err }, "could not save the JetStream watermark"),
    );
  }

  get names(): DurableLogNames {
    return this.o.names;
  }

  /** Whether mirroring has started (the first consumer group needed it). */
  get mirroring(): boolean {
    return this.running !== undefined;
  }

  /** The sequence up to which every event is in the stream (for tests and stats). */
  get forwardedSeq(): bigint {
    return this.acked;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.running;
  }
}


/**
 * Headers of a mirrored event: enough for a group to filter and order without decoding it. With
 * `msgId`, also JetStream's message id (Nats-Msg-Id), by which the stream keeps one copy.
 */
export function eventHeaders(meta: EventMeta, position: string, msgId?: string) {
  const h = headers();
  if (msgId !== undefined) h.set("Nats-Msg-Id", msgId);
  h.set(HEADER_ID, meta.id);
  h.set(HEADER_TYPE, meta.type);
  h.set(HEADER_POSITION, position);
  h.set(HEADER_SOURCE, meta.source);
  h.set(HEADER_SUBJECT, meta.subject);
  h.set(HEADER_CORRELATION, meta.correlationId);
  if (meta.traceparent) h.set(HEADER_TRACEPARENT, meta.traceparent);
  return h;
}

/** Whether a JetStream API call failed because the stream, consumer or message named does not exist. */
export function isJetStreamNotFound(err: unknown, code: (typeof JetStreamApiCodes)[keyof typeof JetStreamApiCodes]): boolean {
  return err instanceof JetStreamApiError && err.code === code;
}
