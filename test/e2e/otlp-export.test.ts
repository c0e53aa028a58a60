// The broker process exports its spans over OTLP/HTTP protobuf when the standard OTEL_* variables
// ask for it: a local endpoint receives and decodes the real export request.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBrokerClient, newEvent, TargetType } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { startOtlpReceiver, type OtlpReceiver, type OtlpSpan } from "../helpers/otlp-receiver.js";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

describe("OTLP export of the broker's spans", () => {
  let receiver: OtlpReceiver;
  let broker: BrokerProcess;
  const dir = mkdtempSync(join(tmpdir(), "broker-otlp-"));

  before(async () => {
    receiver = await startOtlpReceiver();
    broker = await spawnBroker({
      BROKER_DATA_DIR: dir,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_SERVICE_NAME: "royalty-broker",
      OTEL_TRACES_SAMPLER: "parentbased_always_on",
      // Export each batch after 50 ms rather than the default 5 s.
      OTEL_BSP_SCHEDULE_DELAY: "50",
    }, 90_000);
  });
  after(async () => {
    await broker?.stop();
    await receiver?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends the publish span and its store-commit child, in the producer's trace, to OTEL_EXPORTER_OTLP_ENDPOINT", async () => {
    const client = createBrokerClient({ address: broker.address, source: "bookstore-svc" });
    try {
      await client.publish(newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` }));
    } finally {
      client.close();
    }
    const find = (name: string) => receiver.requests.flatMap((r) => r.spans).find((s) => s.name === name);
    let publish: OtlpSpan | undefined;
    let commit: OtlpSpan | undefined;
    for (let i = 0; i < 300 && !(publish && commit); i++) {
      await new Promise((r) => setTimeout(r, 20));
      [publish, commit] = [find("publish like.added"), find("store commit")];
    }
    assert.ok(publish && commit, "both spans exported");
    const request = receiver.requests[0];
    assert.equal(request?.path, "/v1/traces");
    assert.equal(request?.contentType, "application/x-protobuf");
    assert.equal(publish.resource["service.name"], "royalty-broker");
    assert.equal(publish.scope, "qingyu-broker");
    assert.equal(publish.traceId, TRACE_ID);
    assert.equal(publish.parentSpanId, PARENT_ID);
    assert.equal(publish.kind, 2, "SERVER");
    assert.equal(publish.attributes["messaging.system"], "qingyu");
    assert.equal(publish.attributes["messaging.destination.name"], "like.added");
    assert.equal(commit.traceId, TRACE_ID);
    assert.equal(commit.parentSpanId, publish.spanId);
    assert.ok(broker.logs.some((l) => l["msg"] === "tracing on: exporting spans over OTLP"));
  });
});
