// One purchase followed end to end: the SDK's producer span, the broker's publish and commit spans,
// the traceparent on NATS fan-out and on the JetStream mirror, a subscriber's span (linked) and a
// consumer group member's span (child), all in one trace. Spans go to an in-memory exporter of a
// real OpenTelemetry SDK registered in this process (the broker runs in-process).
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { context, SpanKind, trace } from "@opentelemetry/api";
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { newEvent, type Event, type PayloadInit } from "../../sdk/src/index.js";
import { formatTraceparent } from "../../sdk/src/trace/trace-context.js";
import { createLogger } from "../../server/src/logger.js";
import { LogSink, startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { samplePayload } from "../helpers/sample-events.js";

const purchase = () => newEvent("chapter.purchased", samplePayload("chapter.purchased") as PayloadInit<"chapter.purchased">, { source: "bookstore-svc", subject: "book/b-42" });

async function until<T>(get: () => T | undefined, what: string, tries = 500): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = get();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe("tracing: SDK producer → broker → subscriber and consumer group member", () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let nats: NatsServer;
  let t: TestBroker;
  let nc: NatsConnection;

  before(async () => {
    provider.register();
    nats = await startNatsServer();
    t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_SUBJECT_PREFIX: "traced" });
    nc = await connect({ servers: nats.url });
  });
  after(async () => {
    await nc?.close();
    await t?.close();
    await nats?.[Symbol.asyncDispose]();
    await provider.shutdown();
    trace.disable();
    context.disable();
  });

  const spans = (kind: SpanKind, name: string) => exporter.getFinishedSpans().filter((s) => s.kind === kind && s.name === name);

  it("puts every hop of one event into the producer's trace with the expected parents and links", async () => {
    const headers = { fanout: [] as string[], mirror: [] as string[] };
    nc.subscribe("traced.>", { callback: (_e, m) => void headers.fanout.push(m.headers?.get("traceparent") ?? "") });
    nc.subscribe("traced_durable.>", { callback: (_e, m) => void headers.mirror.push(m.headers?.get("traceparent") ?? "") });
    await nc.flush();
    await t.client.groups.create({ name: "royalty", filter: { types: ["chapter.purchased"] } });
    let handled: { traceId: string; spanId: string } | undefined;
    const consumer = t.client.consume("royalty", () => void (handled = trace.getActiveSpan()?.spanContext()));
    let caughtUp: () => void = () => undefined;
    const live = new Promise<void>((resolve) => (caughtUp = resolve));
    const subscribed = (async () => {
      for await (const e of t.client.subscribe({ types: ["chapter.purchased"] }, { onCaughtUp: () => caughtUp() })) return e;
      return undefined;
    })();
    await live;

    await t.client.publish(purchase());
    const received = (await subscribed) as Event;
    await until(() => handled, "the group member's handler");
    await consumer.stop();

    const [producer] = spans(SpanKind.PRODUCER, "publish chapter.purchased");
    assert.ok(producer, "producer span");
    const traceId = producer.spanContext().traceId;
    const traceparent = formatTraceparent(producer.spanContext());
    assert.equal(received.traceparent, traceparent, "the SDK wrote its producer span into the envelope");
    assert.equal(producer.attributes["messaging.system"], "qingyu");
    assert.equal(producer.attributes["messaging.destination.name"], "chapter.purchased");
    assert.equal(producer.attributes["messaging.message.id"], received.id);

    const broker = await until(() => spans(SpanKind.SERVER, "publish chapter.purchased")[0], "broker span");
    assert.equal(broker.spanContext().traceId, traceId);
    assert.equal(broker.parentSpanContext?.spanId, producer.spanContext().spanId);
    assert.equal(broker.attributes["qingyu.nats.subject"], "traced.bookstore.chapter.purchased");
    const [commit] = spans(SpanKind.INTERNAL, "store commit");
    assert.equal(commit?.parentSpanContext?.spanId, broker.spanContext().spanId);

    const subscriber = await until(() => spans(SpanKind.CONSUMER, "process chapter.purchased").find((s) => s.attributes["messaging.operation.name"] === "subscribe"), "subscriber span");
    assert.equal(subscriber.parentSpanContext, undefined, "a subscriber's span is not a child of the producer");
    assert.deepEqual(subscriber.links.map((l) => l.context.spanId), [producer.spanContext().spanId]);

    const member = spans(SpanKind.CONSUMER, "process chapter.purchased").find((s) => s.attributes["messaging.operation.name"] === "consume") as ReadableSpan;
    assert.ok(member, "group member span");
    assert.equal(member.spanContext().traceId, traceId);
    assert.equal(member.parentSpanContext?.spanId, producer.spanContext().spanId, "group deliveries keep the envelope's traceparent");
    assert.equal(member.attributes["messaging.consumer.group.name"], "royalty");
    assert.equal(member.attributes["qingyu.delivery.attempt"], 1);
    assert.deepEqual(handled && { traceId: handled.traceId, spanId: handled.spanId }, { traceId, spanId: member.spanContext().spanId }, "the handler runs in its span");

    await until(() => (headers.fanout.length > 0 && headers.mirror.length > 0 ? true : undefined), "NATS messages");
    assert.deepEqual(headers.fanout, [traceparent]);
    assert.deepEqual(headers.mirror, [traceparent]);
  });

  it("traces a batch with one broker span, and keeps a traceparent the caller set", async () => {
    exporter.reset();
    const own = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const [a, b] = [purchase(), purchase()];
    b.traceparent = own;
    await t.client.publishBatch([a, b]);
    assert.equal((await t.client.getEvent(b.id)).traceparent, own);
    const broker = spans(SpanKind.SERVER, "publish chapter.purchased");
    assert.equal(broker.length, 1, "one span per call, not per event");
    const producer = spans(SpanKind.PRODUCER, "publish chapter.purchased")[0] as ReadableSpan;
    assert.equal(broker[0]?.attributes["messaging.batch.message_count"], 2);
    // The events carry two traces: the broker span links to both rather than picking a parent.
    assert.deepEqual(broker[0]?.links.map((l) => l.context.spanId).sort(), [producer.spanContext().spanId, "b7ad6b7169203331"].sort());
  });

  it("times each replayed event in a consumer span linked to the event's producer", async () => {
    exporter.reset();
    const e = purchase();
    e.traceparent = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01";
    await t.client.publish(e);
    let inside: string | undefined;
    for await (const got of t.client.replay({ types: ["chapter.purchased"] })) {
      if (got.id !== e.id) continue;
      inside = trace.getActiveSpan()?.spanContext().spanId;
      break;
    }
    const replayed = await until(() => spans(SpanKind.CONSUMER, "process chapter.purchased").find((s) => s.attributes["messaging.operation.name"] === "replay" && s.attributes["messaging.message.id"] === e.id), "replay span");
    assert.equal(replayed.parentSpanContext, undefined, "a reader's span is not a child of the producer");
    assert.deepEqual(replayed.links.map((l) => l.context.spanId), ["c7ad6b7169203331"]);
    assert.equal(replayed.attributes["messaging.destination.name"], "chapter.purchased");
    // A for-await loop cannot be given an active context (README): the span is linked and timed only.
    assert.notEqual(inside, replayed.spanContext().spanId);
  });

  it("writes trace_id and span_id into log lines while a span is active, and only then", () => {
    const sink = new LogSink();
    const log = createLogger("info", sink);
    const span = trace.getTracer("test").startSpan("work");
    context.with(trace.setSpan(context.active(), span), () => log.info("inside"));
    log.info("outside");
    span.end();
    assert.equal(sink.lines[0]?.["trace_id"], span.spanContext().traceId);
    assert.equal(sink.lines[0]?.["span_id"], span.spanContext().spanId);
    assert.equal(sink.lines[1]?.["trace_id"], undefined);
  });
});
