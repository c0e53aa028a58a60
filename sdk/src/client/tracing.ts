// The SDK's spans (OpenTelemetry messaging conventions). Attributes and links are added only to
// recording spans, so without an OpenTelemetry SDK a traced call costs one no-op span.
import { ROOT_CONTEXT, SpanKind, trace, type Span } from "@opentelemetry/api";
import type { Event } from "../gen/qingyu/events/v1/event_pb.js";
import { contextFromTraceparent, linksFromTraceparents, MESSAGING_SYSTEM } from "../trace/trace-context.js";

const tracer = trace.getTracer("@qingyu/events");

/** A producer span for one publish call (one event, or one batch). */
export function producerSpan(events: readonly Pick<Event, "type">[]): Span {
  const types = new Set(events.map((e) => e.type));
  const destination = types.size === 1 ? (events[0]?.type ?? "") : "batch";
  return tracer.startSpan(`publish ${destination}`, { kind: SpanKind.PRODUCER });
}

/** Sets a producer span's attributes once the events are prepared (ids filled). */
export function describeProducer(span: Span, events: readonly Event[]): void {
  if (!span.isRecording()) return;
  span.setAttributes({
    "messaging.system": MESSAGING_SYSTEM,
    "messaging.operation.type": "send",
    "messaging.operation.name": "publish",
    "messaging.destination.name": new Set(events.map((e) => e.type)).size === 1 ? (events[0]?.type ?? "") : "batch",
  });
  if (events.length === 1) span.setAttribute("messaging.message.id", events[0]?.id ?? "");
  else span.setAttribute("messaging.batch.message_count", events.length);
}

export type ConsumerOperation = "subscribe" | "replay" | "consume";

/**
 * A consumer span for handling one event: a child of the event's traceparent for a consumer group
 * member (the event was sent to it), linked to it for subscribe and replay (the reader chose to
 * read it, maybe long after).
 */
export function consumerSpan(event: Event, op: ConsumerOperation, group?: { name: string; attempt: number }): Span {
  const parent = op === "consume" ? contextFromTraceparent(event.traceparent, ROOT_CONTEXT) : ROOT_CONTEXT;
  const span = tracer.startSpan(`process ${event.type}`, { kind: SpanKind.CONSUMER }, parent);
  if (!span.isRecording()) return span;
  span.setAttributes({
    "messaging.system": MESSAGING_SYSTEM,
    "messaging.operation.type": "process",
    "messaging.operation.name": op,
    "messaging.destination.name": event.type,
    "messaging.message.id": event.id,
  });
  if (group) span.setAttributes({ "messaging.consumer.group.name": group.name, "qingyu.delivery.attempt": group.attempt });
  if (op !== "consume") span.addLinks(linksFromTraceparents([event.traceparent]));
  return span;
}

/** Yields each event with a consumer span open until the loop asks for the next one. */
export async function* tracedEvents(events: AsyncIterable<Event>, op: ConsumerOperation): AsyncIterable<Event> {
  for await (const e of events) {
    const span = consumerSpan(e, op);
    try {
      yield e;
    } finally {
      span.end();
    }
  }
}
