// The NATS-mode feed of a consumer group: a JetStream durable pull consumer on the mirrored log.
// JetStream keeps the group's progress and does redelivery (ack wait, nak delays, working), and
// every broker replica can serve the same group; the runtime on top adds ordering per key,
// per-type retry policies, attempt histories and dead letters.
import { AckPolicy, DeliverPolicy, JetStreamApiCodes, type Consumer, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import type { ConsumerGroup } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventFromBinary } from "../../../sdk/src/event/codec.js";
import { eventHeaders, isJetStreamNotFound, HEADER_CORRELATION, HEADER_SOURCE, HEADER_SUBJECT, type JetStreamLog } from "../log/jetstream-log.js";
import { HEADER_POSITION, HEADER_TYPE } from "../bus/nats-bus.js";
import { matcher } from "../log/matcher.js";
import type { KvWrite } from "../store/event-store.js";
import type { GroupSettings } from "./group-config.js";
import { startFloor, type FeedFactory } from "./feed-factory.js";
import type { EventStore } from "../store/event-store.js";
import { eventMeta, type LiveHub } from "../log/live-hub.js";
import { decodePosition, encodePosition } from "../store/position.js";
import type { Entry } from "./group-entry.js";
import { Wakeup } from "../../../sdk/src/fifo.js";
import { ChunkSizer } from "./chunk-sizer.js";
import type { JetStreamAdmin } from "./jetstream-admin.js";
import type { FeedSink, GroupFeed } from "./group-feed.js";

const NS_PER_MS = 1_000_000;
const PULL_BATCH = 256;
/** How long one pull waits for messages before the next is made. */
const FETCH_EXPIRES_MS = 5_000;

const consumerName = (group: string) => `grp_${group}`;
const redriveSubject = (root: string, group: string) => `${root}._redrive.${group}`;

/** JetStream waits this long before redelivering on its own: a safety net if a broker dies. */
function ackWaitNs(settings: GroupSettings): number {
  return (settings.ackDeadlineMs * 2 + 5_000) * NS_PER_MS;
}

class JetStreamFeed implements GroupFeed {
  private sink!: FeedSink;
  private consumer: Consumer | undefined;
  /** The pull in progress. */
  private batch: ConsumerMessages | undefined;
  private matches: ReturnType<typeof matcher>;
  private readonly room = new Wakeup();
  private closed = false;
  private loop: Promise<void> | undefined;
  private readonly chunks = new ChunkSizer(PULL_BATCH);

  constructor(
    private readonly jslog: JetStreamLog,
    private readonly group: string,
    private settings: GroupSettings,
    private readonly log: Logger,
    private readonly store: EventStore,
    private readonly admin: JetStreamAdmin,
    /** Events at or before this position are before the group's start: skipped. */
    private readonly startSeq: bigint,
  ) {
    this.matches = matcher(settings.filter);
  }

  async start(sink: FeedSink): Promise<void> {
    this.sink = sink;
    this.consumer = await this.jslog.js.consumers.get(this.jslog.names.stream, consumerName(this.group));
    this.loop = this.run(this.consumer);
  }

  /**
   * Pulls only while this replica's members can take more and the window has room, and never more
   * than fits: every message the broker holds is in the window, where it is kept alive, and none
   * waits in a client-side buffer until JetStream's ack wait sends it again. A replica without
   * free members pulls nothing, so the group's events go to the replicas that have them.
   */
  private async run(consumer: Consumer): Promise<void> {
    while (!this.closed) {
      const room = this.sink.roomEvents;
      if (room <= 0 || this.sink.demand <= 0) {
        await this.room.wait();
        continue;
      }
      try {
        // A number of messages, from the window's byte room and recent sizes: nats.js takes a
        // count or a byte bound, not both, and a byte bound smaller than one message fails the pull.
        this.batch = await consumer.fetch({ max_messages: this.chunks.size(room, this.sink.roomBytes), expires: FETCH_EXPIRES_MS });
        let largest = 0;
        for await (const m of this.batch) {
          largest = Math.max(largest, m.data.length);
          this.take(m);
        }
        this.chunks.saw(largest);
      } catch (err) {
        if (this.closed) return;
        this.log.warn({ err, group: this.group }, "JetStream pull failed; retrying");
        await new Promise((r) => setTimeout(r, 500));
      } finally {
        this.batch = undefined;
      }
    }
  }

  private take(m: JsMsg): void {
    const h = m.headers;
    const position = h?.get(HEADER_POSITION) ?? "";
    if (m.subject.startsWith(`${this.jslog.names.root}._redrive.`)) {
      // Redrives are published for one group; the others skip them.
      if (m.subject !== redriveSubject(this.jslog.names.root, this.group)) m.ack();
      else this.admit(m, position);
      return;
    }
    const meta = { type: h?.get(HEADER_TYPE) ?? "", source: h?.get(HEADER_SOURCE) ?? "", subject: h?.get(HEADER_SUBJECT) ?? "", correlationId: h?.get(HEADER_CORRELATION) ?? "" };
    // The stream's arrival order is not a start point (the mirror may be catching up): the
    // group's start is a position.
    if (!this.matches(meta, m.data) || (decodePosition(position) ?? 0n) <= this.startSeq) {
      m.ack();
      return;
    }
    this.admit(m, position);
  }

  private admit(m: JsMsg, position: string): void {
    // The runtime decodes the event (once) and takes the recorded time from it.
    this.sink.admit(position, m.data, undefined, m);
    this.sink.schedulePump();
  }

  pull(): void {
    this.room.notify();
  }

  finished(entry: Entry, how: "acked" | "parked"): void {
    const m = entry.handle as JsMsg | undefined;
    if (how === "acked") m?.ack();
    // No reason text: nats-server before 2.10.4 ignores "+TERM <reason>" and would redeliver.
    else m?.term();
  }

  retryLater(entry: Entry, delayMs: number): boolean {
    const m = entry.handle as JsMsg | undefined;
    if (!m) return false;
    m.nak(delayMs);
    return true;
  }

  keepAlive(entry: Entry): void {
    (entry.handle as JsMsg | undefined)?.working();
  }

  release(entry: Entry, retrying: boolean): boolean {
    const m = entry.handle as JsMsg | undefined;
    if (!m) return false;
    // A nak without a delay: JetStream sends it to the next pull, of any replica, at once rather
    // than after the ack wait. One already nak'ed with a delay is JetStream's again: a second nak
    // would cut its delay short.
    if (!retrying) m.nak();
    return true;
  }

  async redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[]): Promise<void> {
    for (const l of letters) {
      const meta = eventMeta(eventFromBinary(l.data));
      // No message id: the original's id is still in the duplicate window and would swallow it.
      await this.jslog.js.publish(redriveSubject(this.jslog.names.root, this.group), l.data, { headers: eventHeaders(meta, l.position) });
    }
  }

  progress(): KvWrite[] {
    // JetStream keeps the progress; where the group starts is in its definition record.
    return [];
  }

  /** The broker position of a message of the stream; undefined once the stream no longer has it. */
  private async positionAt(streamSeq: number): Promise<string | undefined> {
    if (streamSeq <= 0) return undefined;
    try {
      return (await this.jslog.jsm.streams.getMessage(this.jslog.names.stream, { seq: streamSeq }))?.header.get(HEADER_POSITION) || undefined;
    } catch (err) {
      if (isJetStreamNotFound(err, JetStreamApiCodes.NoMessageFound)) return undefined;
      throw err;
    }
  }

  /**
   * Backlog: what is delivered and not acknowledged (the feed acknowledges events outside the
   * filter as soon as it sees them), plus the matching events of the store the consumer has not
   * delivered yet. JetStream's own pending count would include events outside the filter, which a
   * replica without free members has not pulled and skipped.
   */
  async lag(): Promise<{ backlog: number; floor: string; oldestUs?: number | undefined }> {
    const info = await this.consumerInfo("consumer info");
    const floor = (await this.positionAt(info.ack_floor.stream_seq)) ?? "";
    const from = (p: bigint) => encodePosition(p > this.startSeq ? p : this.startSeq);
    let backlog = info.num_ack_pending;
    if (info.num_pending > 0) {
      const delivered = decodePosition((await this.positionAt(info.delivered.stream_seq)) ?? "") ?? 0n;
      backlog += await this.store.count({ filter: this.settings.filter, afterPosition: from(delivered) });
    }
    if (backlog === 0) return { backlog, floor };
    // The first matching event above the ack floor (for the oldest unacknowledged age when no
    // replica holds it in a window yet).
    const [first] = await this.store.scan({ filter: this.settings.filter, afterPosition: from(decodePosition(floor) ?? 0n), limit: 1 });
    return { backlog, floor, oldestUs: first?.recordedUs };
  }

  private consumerInfo(op: string) {
    const info = () => this.jslog.jsm.consumers.info(this.jslog.names.stream, consumerName(this.group));
    return this.admin.run({ op, group: this.group }, info, info);
  }

  update(settings: GroupSettings): void {
    this.settings = settings;
    this.matches = matcher(settings.filter);
    const { stream } = this.jslog.names;
    void this.admin
      .run(
        { op: "consumer update", group: this.group },
        () => this.jslog.jsm.consumers.update(stream, consumerName(this.group), { ack_wait: ackWaitNs(settings) }),
        () => this.jslog.jsm.consumers.info(stream, consumerName(this.group)),
      )
      .catch((err: unknown) => this.log.warn({ err, group: this.group }, "could not update the JetStream consumer"));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pull();
    await this.batch?.close();
    await this.loop;
  }
}

/**
 * Feeds of consumer groups backed by JetStream durable consumers. Every admin call goes through
 * `admin`: only an answer of JetStream ("consumer not found") leads to a recreate or counts as
 * deleted; a timeout or a permissions violation fails the call as STORE_UNAVAILABLE and shows in
 * health (see JetStreamAdmin).
 */
export function jetstreamFeeds(jslog: JetStreamLog, store: EventStore, hub: LiveHub, log: Logger, admin: JetStreamAdmin): FeedFactory {
  const stream = jslog.names.stream;
  // Every consumer reads the whole mirrored log and skips what lies before the group's start.
  const config = (group: ConsumerGroup, settings: GroupSettings) => ({
    durable_name: consumerName(group.name),
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitNs(settings),
    // Unlimited: each replica bounds what it takes by its own window (see run()); a limit here would
    // be shared by all replicas and starve the second one.
    max_ack_pending: -1,
    filter_subject: `${jslog.names.root}.>`,
    deliver_policy: DeliverPolicy.All,
  });
  const info = (name: string) => () => jslog.jsm.consumers.info(stream, consumerName(name));
  const feed = (name: string, settings: GroupSettings, ackFloor: string) => new JetStreamFeed(jslog, name, settings, log, store, admin, decodePosition(ackFloor) ?? 0n);
  return {
    startOf: (group) => startFloor(store, hub.lastSeq, group),
    async create(def, settings) {
      jslog.ensureRunning();
      await admin.run({ op: "consumer add", group: def.group.name }, () => jslog.jsm.consumers.add(stream, config(def.group, settings)), info(def.group.name));
      return feed(def.group.name, settings, def.record.ackFloor);
    },
    async resume(def, settings) {
      jslog.ensureRunning();
      const { group, record } = def;
      try {
        await admin.run({ op: "consumer info", group: group.name }, info(group.name), info(group.name));
      } catch (err) {
        // Only JetStream saying the consumer does not exist recreates it; anything else fails the
        // resume as itself (the member's call gets UNAVAILABLE and may try again).
        if (!isJetStreamNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
        // why: the JetStream state was lost (a new NATS deployment): start over from the group's
        // start; events delivered before may be delivered again (at-least-once).
        log.warn({ group: group.name }, "JetStream consumer missing; recreating it");
        await admin.run({ op: "consumer add", group: group.name }, () => jslog.jsm.consumers.add(stream, config(group, settings)), info(group.name));
      }
      return feed(group.name, settings, record.ackFloor);
    },
    async destroy(name) {
      // Already gone is fine; any other failure fails the DeleteGroup call with the group intact.
      await admin.run({ op: "consumer delete", group: name }, () => jslog.jsm.consumers.delete(stream, consumerName(name)), info(name)).catch((err: unknown) => {
        if (!isJetStreamNotFound(err, JetStreamApiCodes.ConsumerNotFound)) throw err;
      });
    },
    shared: true,
  };
}
