// The broker's spans for publishes: one per Publish or PublishBatch call (and per PublishStream
// request), never one per event of a batch, with the store commit as a child span. Without an
// OpenTelemetry SDK in the process (tracing off) the call runs as it is: no span, no context.
import { context, ProxyTracerProvider, SpanKind, trace, type Span } from "@opentelemetry/api";
import { eventSubject } from "../../../sdk/src/catalog/subject.js";
import type { EventType } from "../../../sdk/src/catalog/catalog.js";
import type { Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { contextFromTraceparent, inSpan, linksFromTraceparents, MESSAGING_SYSTEM } from "../../../sdk/src/trace/trace-context.js";

const tracer = trace.getTracer("qingyu-broker");

/** What the API's global provider delegates to while no SDK is registered. */
const NO_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Whether an OpenTelemetry SDK is registered in this process (main.ts registers one when tracing
 * is configured; a test may register its own). Without one every span is a no-op and no context
 * manager carries an active span, so wrapping a publish in spans would only cost it: two async
 * frames and two contexts per event.
 */
function tracingOn(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NO_PROVIDER;
}

/** The value of `field` every event shares, or "" when they differ. */
function shared(events: readonly (Event | undefined)[], field: "type" | "traceparent"): string {
  const first = events[0]?.[field] ?? "";
  return events.every((e) => e?.[field] === first) ? first : "";
}

function startPublishSpan(events: readonly (Event | undefined)[], subjectPrefix: string): Span {
  const type = shared(events, "type");
  const parentTp = shared(events, "traceparent");
  // The producer's span is the parent when the call has one; a batch of events from several
  // traces links to each of them instead.
  const parent = parentTp === "" ? context.active() : contextFromTraceparent(parentTp);
  const span = tracer.startSpan(`publish ${type || "batch"}`, { kind: SpanKind.SERVER }, parent);
  if (!span.isRecording()) return span;
  span.setAttributes({ "messaging.system": MESSAGING_SYSTEM, "messaging.operation.type": "receive", "messaging.operation.name": "publish" });
  if (type !== "") {
    span.setAttribute("messaging.destination.name", type);
    span.setAttribute("qingyu.nats.subject", eventSubject(type as EventType, { prefix: subjectPrefix }));
  }
  if (events.length === 1) span.setAttribute("messaging.message.id", events[0]?.id ?? "");
  else span.setAttribute("messaging.batch.message_count", events.length);
  if (parentTp === "") span.addLinks(linksFromTraceparents(events.map((e) => e?.traceparent ?? "")));
  return span;
}

/** Runs one publish call in its span (active, so logs and the commit span see it). */
export function tracePublish<T>(events: readonly (Event | undefined)[], subjectPrefix: string, fn: () => Promise<T>): Promise<T> {
  if (!tracingOn()) return fn();
  return inSpan(startPublishSpan(events, subjectPrefix), fn);
}

/** Runs a store commit in a child span of the active publish span. */
export function traceCommit<T>(events: number, fn: () => Promise<T>): Promise<T> {
  if (!tracingOn()) return fn();
  const span = tracer.startSpan("store commit", { kind: SpanKind.INTERNAL });
  if (span.isRecording()) span.setAttribute("messaging.batch.message_count", events);
  return inSpan(span, fn);
}
