// Benchmark events: about 500 bytes encoded, each with its own UUIDv7.
import { create, toBinary } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { PublishRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { framed } from "./thin-client.js";
import { TargetType, eventToBinary, newEvent, newEventId, type Event } from "../../sdk/src/index.js";

export const EVENT_BYTES = 500;
const CONTENT = "这一章写得真好，期待下一章。".repeat(40);

/** The comment text that makes an event about EVENT_BYTES long, measured once per source and shape. */
const contentFor = new Map<string, string>();

function make(source: string, i: number, text: string, time: number | undefined): Event {
  const e = newEvent(
    "comment.created",
    { userId: `u-${i % 1000}`, targetType: TargetType.BOOK, targetId: `b-${i % 97}`, commentId: `c-${i}`, content: text },
    { source, subject: `book/b-${i % 97}`, correlationId: `flow-${i % 5000}` },
  );
  // `time` in epoch milliseconds, fractions kept (to the nanosecond field).
  if (time !== undefined) e.time = create(TimestampSchema, { seconds: BigInt(Math.floor(time / 1000)), nanos: Math.round((time % 1000) * 1e6) % 1e9 });
  return e;
}

/**
 * A comment.created event of about 500 encoded bytes (within a few: ids vary in length); `source`
 * lets runs tell their events apart. Made as a service would make it, with one `newEvent` call.
 */
export function benchEvent(source = "bench-svc", i = 0, time?: number): Event {
  const key = `${source}|${time === undefined}`;
  let text = contentFor.get(key);
  if (text === undefined) {
    const base = eventToBinary(make(source, 0, "", time)).length;
    text = CONTENT.slice(0, Math.max(0, Math.floor((EVENT_BYTES - base - 3) / 3)));
    contentFor.set(key, text);
  }
  return make(source, i, text, time);
}

/**
 * PublishRequest bytes for a thin client, from one template with the id patched in place (ids are
 * fixed-length): encoding per call would measure the load generator, not the broker.
 */
export class RequestTemplate {
  private readonly template: Buffer;
  private readonly idOffset: number;
  constructor(source: string) {
    const e = benchEvent(source);
    this.template = Buffer.from(toBinary(PublishRequestSchema, create(PublishRequestSchema, { event: e })));
    this.idOffset = this.template.indexOf(Buffer.from(e.id, "latin1"));
    if (this.idOffset < 0) throw new Error("id not found in template");
  }
  /** A gRPC-framed (5-byte prefix) PublishRequest with a fresh id (or the one given). */
  frame(id = newEventId()): Buffer {
    const out = framed(this.template);
    out.write(id, 5 + this.idOffset, "latin1");
    return out;
  }
  get size(): number {
    return this.template.length;
  }
}
