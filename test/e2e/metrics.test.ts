import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { TargetType, newEvent } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

function value(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

describe("metrics endpoint", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker({ BROKER_METRICS_PORT: "0" })));
  after(() => t.close());

  it("serves Prometheus metrics: publishes, duplicates, commit times, errors, process memory and GC", async () => {
    const e = newEvent("like.added", { userId: "m1", targetType: TargetType.BOOK, targetId: "b1" });
    await t.client.publish(e);
    await t.client.publish(e);
    await t.client.getEvent("0190f5a0-8b2c-7d3e-9f40-ffffffffffff").catch(() => undefined);
    const text = await (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
    assert.equal(value(text, "broker_events_published_total"), 1);
    assert.equal(value(text, "broker_events_duplicate_total"), 1);
    assert.ok(value(text, "broker_store_commit_seconds_count") >= 1);
    assert.ok(value(text, "broker_store_commit_seconds_sum") > 0);
    assert.match(text, /broker_rpc_errors_total\{method="GetEvent",code="NOT_FOUND"\} 1/);
    assert.ok(value(text, "process_resident_memory_bytes") > 0);
    assert.match(text, /nodejs_gc_duration_seconds/);
    assert.equal((await fetch(`http://127.0.0.1:${t.broker.metricsPort}/other`)).status, 404);
  });

  // https://github.com/qingyu/event-broker/issues/12 (8)
  it("logs calls refused for the caller's mistake at debug, counting them, and keeps warnings for the broker's trouble", async () => {
    const from = t.logs.lines.length;
    await t.client.getEvent("0190f5a0-8b2c-7d3e-9f40-fffffffffffe").catch(() => undefined);
    await t.client.getEvent("not-a-uuid").catch(() => undefined);
    await t.client.groups.ensure({ name: "logs-probe", filter: { types: ["like.added"] } });
    await t.client.groups.ensure({ name: "logs-probe", filter: { types: ["like.added"] } }); // ALREADY_EXISTS inside, as on every restart
    const failed = t.logs.lines.slice(from).filter((l) => l["msg"] === "call failed");
    assert.deepEqual(failed.map((l) => l["code"]).sort(), ["ALREADY_EXISTS", "INVALID_ARGUMENT", "NOT_FOUND"]);
    assert.deepEqual(failed.map((l) => l["level"]), [20, 20, 20]);
    const text = await (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
    assert.match(text, /broker_rpc_errors_total\{method="GetEvent",code="INVALID_ARGUMENT"\} 1/);
    assert.match(text, /broker_rpc_errors_total\{method="CreateGroup",code="ALREADY_EXISTS"\} 1/);
  });
});
