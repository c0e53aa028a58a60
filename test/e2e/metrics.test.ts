import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { RejectError, TargetType, newEvent } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

function value(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line ? Number(line.split(" ").at(-1)) : Number.NaN;
}

/** The value of one series, named with its labels as Prometheus prints them: `x{group="g"}`. */
function series(text: string, name: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
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

  it("serves per group, per event type and state series", async () => {
    const scrape = async () => (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
    await t.client.groups.create({ name: "billing", retry: { maxAttempts: 2, initialDelayMs: 10, jitter: 0 } });
    const failing = t.client.consume("billing", (e) => {
      if (e.subject === "book/reject") throw new RejectError("never");
      throw new Error("handler down");
    });
    await t.client.publish(newEvent("like.added", { userId: "m2", targetType: TargetType.BOOK, targetId: "b1" }, { subject: "book/retry" }));
    await t.client.publish(newEvent("like.added", { userId: "m3", targetType: TargetType.BOOK, targetId: "b1" }, { subject: "book/reject" }));
    const unchecked = t.newClient({ validate: false });
    await unchecked.publish(newEvent("like.added", { userId: "", targetType: TargetType.BOOK, targetId: "b1" })).catch(() => undefined);
    let text = "";
    for (let i = 0; i < 200 && series(text, 'broker_group_dead_letters{group="billing"}') !== 2; i++) {
      await new Promise((r) => setTimeout(r, 25));
      text = await scrape();
    }
    await failing.stop();
    assert.equal(series(text, 'broker_group_dead_letters{group="billing"}'), 2);
    assert.equal(series(text, 'broker_group_redeliveries_total{group="billing"}'), 1, "the retried event was delivered twice");
    assert.equal(series(text, 'broker_group_backlog{group="billing"}'), 0);
    assert.equal(series(text, 'broker_group_in_flight{group="billing"}'), 0);
    assert.equal(series(text, 'broker_group_retrying{group="billing"}'), 0);
    assert.equal(series(text, 'broker_group_oldest_unacked_age_seconds{group="billing"}'), 0);
    assert.equal(series(text, 'broker_group_members{group="billing"}'), 1);
    assert.ok(series(text, 'broker_events_published_total{type="like.added"}') >= 3);
    assert.equal(series(text, 'broker_publish_rejections_total{type="like.added",reason="invalid_event"}'), 1);
    assert.ok(series(text, "broker_store_size_bytes") > 0);
    assert.equal(series(text, "broker_serving"), 1);
    assert.doesNotMatch(text, /broker_nats_connected/, "no NATS, no NATS series");
  });
});
