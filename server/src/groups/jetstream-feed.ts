// The NATS-mode feed of a consumer group: a JetStream durable pull consumer on the mirrored log.
// JetStream keeps the group's progress and does redelivery (ack wait, nak delays, working), and
// every broker replica can serve the same group; the runtime on top adds ordering per key,
// per-type retry policies, attempt histories and dead letters.
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JsMsg } from "@nats-io/jetstream";
import type { Logger } from "pino";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { ConsumerGroup } from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { eventFromBinary } from "../../../sdk/src/event/codec.js";
import { eventHeaders, HEADER_CORRELATION, HEADER_SOURCE, HEADER_SUBJECT, type JetStreamLog } from "../bus/jetstream-log.js";
import { HEADER_POSITION, HEADER_TYPE } from "../bus/nats-bus.js";
import { matcher } from "../services/subscribe.js";
import type { KvWrite } from "../store/event-store.js";
import type { GroupSettings } from "./group-config.js";
import { startFloor, type FeedFactory } from "./group-manager.js";
import type { EventStore } from "../store/event-store.js";
import { eventMeta, type LiveHub } from "../services/live-hub.js";
import { decodePosition } from "../store/position.js";
import { WINDOW, type Entry, type FeedSink, type GroupFeed } from "./group-runtime.js";

const NS_PER_MS = 1_000_000;
const PULL_BATCH = 256;

const consumerName = (group: string) => `grp_${group}`;
const redriveSubject = (root: string, group: string) => `${root}._redrive.${group}`;

/** JetStream waits this long before redelivering on its own: a safety net if a broker dies. */
function ackWaitNs(settings: GroupSettings): number {
  return (settings.ackDeadlineMs * 2 + 5_000) * NS_PER_MS;
}

class JetStreamFeed implements GroupFeed {
  private sink!: FeedSink;
  private messages: ConsumerMessages | undefined;
  private matches: ReturnType<typeof matcher>;
  private room: (() => void) | undefined;
  private closed = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly jslog: JetStreamLog,
    private readonly group: string,
    private settings: GroupSettings,
    private readonly log: Logger,
    /** Events at or before this position are before the group's start: skipped. */
    private readonly startSeq: bigint,
  ) {
    this.matches = matcher(settings.filter);
  }

  async start(sink: FeedSink): Promise<void> {
    this.sink = sink;
    const consumer = await this.jslog.js.consumers.get(this.jslog.names.stream, consumerName(this.group));
    this.messages = await consumer.consume({ max_messages: PULL_BATCH });
    this.loop = this.run(this.messages);
  }

  private async run(messages: ConsumerMessages): Promise<void> {
    try {
      for await (const m of messages) {
        // A full window: stop taking messages until the runtime has room (JetStream holds them).
        while (this.sink.windowSize >= WINDOW && !this.closed) await new Promise<void>((r) => (this.room = r));
        if (this.closed) return;
        this.take(m);
      }
    } catch (err) {
      if (!this.closed) this.log.warn({ err, group: this.group }, "JetStream consumer stopped");
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
    if (!this.matches(meta) || (decodePosition(position) ?? 0n) <= this.startSeq) {
      m.ack();
      return;
    }
    this.admit(m, position);
  }

  private admit(m: JsMsg, position: string): void {
    const recorded = eventFromBinary(m.data).recordedTime;
    this.sink.admit(position, m.data, recorded ? timestampDate(recorded).getTime() * 1000 : 0, m);
    this.sink.schedulePump();
  }

  pull(): void {
    this.room?.();
    this.room = undefined;
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

  async lag(): Promise<{ backlog: number; floor: string }> {
    const info = await this.jslog.jsm.consumers.info(this.jslog.names.stream, consumerName(this.group));
    const floorSeq = info.ack_floor.stream_seq;
    let floor = "";
    if (floorSeq > 0) {
      const stored = await this.jslog.jsm.streams.getMessage(this.jslog.names.stream, { seq: floorSeq }).catch(() => null);
      floor = stored?.header.get(HEADER_POSITION) ?? "";
    }
    // Pending includes events outside the group's filter that the feed has not skipped yet.
    return { backlog: info.num_pending + info.num_ack_pending, floor };
  }

  update(settings: GroupSettings): void {
    this.settings = settings;
    this.matches = matcher(settings.filter);
    void this.jslog.jsm.consumers
      .update(this.jslog.names.stream, consumerName(this.group), { ack_wait: ackWaitNs(settings) })
      .catch((err: unknown) => this.log.warn({ err, group: this.group }, "could not update the JetStream consumer"));
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pull();
    await this.messages?.close();
    await this.loop;
  }
}

/** Feeds of consumer groups backed by JetStream durable consumers. */
export function jetstreamFeeds(jslog: JetStreamLog, store: EventStore, hub: LiveHub, log: Logger): FeedFactory {
  const stream = jslog.names.stream;
  // Every consumer reads the whole mirrored log and skips what lies before the group's start.
  const config = (group: ConsumerGroup, settings: GroupSettings) => ({
    durable_name: consumerName(group.name),
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWaitNs(settings),
    max_ack_pending: WINDOW + PULL_BATCH * 4,
    filter_subject: `${jslog.names.root}.>`,
    deliver_policy: DeliverPolicy.All,
  });
  return {
    startOf: (group) => startFloor(store, hub.lastSeq, group),
    async create(def, settings) {
      jslog.ensureRunning();
      await jslog.jsm.consumers.add(stream, config(def.group, settings));
      return new JetStreamFeed(jslog, def.group.name, settings, log, decodePosition(def.record.ackFloor) ?? 0n);
    },
    async resume(def, settings) {
      jslog.ensureRunning();
      const { group, record } = def;
      try {
        await jslog.jsm.consumers.info(stream, consumerName(group.name));
      } catch {
        // why: the JetStream state was lost (a new NATS deployment): start over from the group's
        // start; events delivered before may be delivered again (at-least-once).
        log.warn({ group: group.name }, "JetStream consumer missing; recreating it");
        await jslog.jsm.consumers.add(stream, config(group, settings));
      }
      return new JetStreamFeed(jslog, group.name, settings, log, decodePosition(record.ackFloor) ?? 0n);
    },
    async destroy(name) {
      await jslog.jsm.consumers.delete(stream, consumerName(name)).catch(() => undefined);
    },
    shared: true,
  };
}
