// GetBrokerStats: the store, the open subscriptions and the start time, as the web console's
// overview shows them. Issue 16.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { BrokerError, Code, ErrorReason } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

describe("EventBrokerService.GetBrokerStats()", () => {
  let t: TestBroker;
  let startedAfterMs: number;

  before(async () => {
    startedAfterMs = Date.now();
    t = await startTestBroker();
  });
  after(() => t.close());

  it("reports the store's kind and size, the bus and when the broker started", async () => {
    await t.client.publish(sampleEvent("like.added"));
    const stats = await t.client.brokerStats();
    assert.equal(stats.store, "sqlite");
    assert.equal(stats.bus, "in-process");
    assert.ok(stats.storeSizeBytes !== undefined && stats.storeSizeBytes > 0n, `store size ${stats.storeSizeBytes}`);
    const started = timestampMs(stats.startTime!);
    assert.ok(started >= startedAfterMs && started <= Date.now(), `start time ${started}`);
  });

  it("is printed by the CLI's stats command, as text or JSON", async () => {
    const text = await runCli(t.address, ["stats"]);
    assert.match(text.stdout, /^store: sqlite \(\d+ bytes\)$/m);
    assert.match(text.stdout, /^bus: in-process$/m);
    const json = JSON.parse((await runCli(t.address, ["stats", "--json"])).stdout) as Record<string, unknown>;
    assert.equal(json["store"], "sqlite");
    assert.ok(Number(json["storeSizeBytes"]) > 0);
    assert.equal(typeof json["startTime"], "string");
  });

  it("counts open Subscribe streams, and stops counting one that ended", async () => {
    const before = (await t.client.brokerStats()).subscribers;
    const controller = new AbortController();
    const tail = t.client.tail({ types: ["like.added"] }, () => undefined, { signal: controller.signal }).catch(() => undefined);
    await until(async () => (await t.client.brokerStats()).subscribers === before + 1, "the subscription counted", { everyMs: 20 });
    controller.abort();
    await tail;
    await until(async () => (await t.client.brokerStats()).subscribers === before, "the subscription no longer counted", { everyMs: 20 });
  });
});

describe("EventBrokerService.GetBrokerStats() under an access policy", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker({ BROKER_AUTH_FILE: EXAMPLE_POLICY })));
  after(() => t.close());

  it("answers an authenticated principal and refuses an anonymous caller", async () => {
    assert.equal((await t.newClient({ credentials: demoToken("analytics") }).brokerStats()).store, "sqlite");
    const err = await t.newClient().brokerStats().then(
      () => assert.fail("expected UNAUTHENTICATED"),
      (e: unknown) => BrokerError.from(e),
    );
    assert.equal(err.code, Code.UNAUTHENTICATED);
    assert.equal(err.reason, ErrorReason.UNAUTHENTICATED);
  });
});
