// W3C Trace Context for events, on @opentelemetry/api alone: with no OpenTelemetry SDK in the
// process every tracer is a no-op, spans are never recording and nothing here allocates beyond the
// no-op span.
import { context, SpanStatusCode, trace, TraceFlags, type Context, type Link, type Span, type SpanContext } from "@opentelemetry/api";

/** `messaging.system` of every span the SDK and the broker make. */
export const MESSAGING_SYSTEM = "qingyu";

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZEROS = /^0+$/;

/** The `traceparent` value (version 00) of a span context, or "" when the context is invalid. */
export function formatTraceparent(sc: SpanContext): string {
  if (!trace.isSpanContextValid(sc)) return "";
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, "0")}`;
}

/** The remote span context a `traceparent` names, or undefined when it is empty or malformed. */
export function parseTraceparent(value: string): SpanContext | undefined {
  const m = TRACEPARENT.exec(value);
  if (!m || ZEROS.test(m[1] ?? "") || ZEROS.test(m[2] ?? "")) return undefined;
  return { traceId: m[1] as string, spanId: m[2] as string, traceFlags: parseInt(m[3] as string, 16) & TraceFlags.SAMPLED, isRemote: true };
}

/** The current context with `traceparent`'s span as parent; the current context when there is none. */
export function contextFromTraceparent(value: string, base: Context = context.active()): Context {
  const sc = parseTraceparent(value);
  return sc ? trace.setSpanContext(base, sc) : base;
}

/** Links to the distinct valid traceparents, at most `max` of them. */
export function linksFromTraceparents(values: Iterable<string>, max = 128): Link[] {
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const v of values) {
    if (links.length >= max) break;
    if (v === "" || seen.has(v)) continue;
    seen.add(v);
    const sc = parseTraceparent(v);
    if (sc) links.push({ context: sc });
  }
  return links;
}

/** Ends a span with an error status and the exception recorded. */
export function failSpan(span: Span, err: unknown): void {
  if (span.isRecording()) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
  }
  span.end();
}

/** Runs `fn` with `span` active, ending the span when it settles (failed with its error). */
export async function inSpan<T>(span: Span, fn: () => T | Promise<T>): Promise<T> {
  try {
    const out = await context.with(trace.setSpan(context.active(), span), fn);
    span.end();
    return out;
  } catch (err) {
    failSpan(span, err);
    throw err;
  }
}
