// The shipped alert rules and metrics against a real Prometheus: it scrapes a test broker (with
// NATS and JetStream groups), the series the rules and the dashboard use exist, and the dead-letter
// alert fires when a group parks events.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { RejectError, TargetType, newEvent, type Consumer } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { startPrometheus, type Prometheus } from "../helpers/prometheus.js";

const RULES = new URL("../../deploy/prometheus/broker-alerts.yml", import.meta.url).pathname;
const DASHBOARD = new URL("../../deploy/grafana/broker-dashboard.json", import.meta.url).pathname;

/** Every query of the Grafana dashboard, its variables filled as Grafana would for "All". */
function dashboardQueries(): { panel: string; expr: string }[] {
  const dashboard = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: { title: string; targets?: { expr: string }[] }[] };
  return dashboard.panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({
      panel: p.title,
      expr: t.expr.replaceAll("$__rate_interval", "1m").replaceAll("$instance", ".*").replaceAll("$group", ".*").replaceAll("$job", "qingyu-broker"),
    })),
  );
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

interface Alert {
  labels: Record<string, string>;
  state: string;
}

const EXPECTED_SERIES = [
  "broker_events_published_total",
  "broker_publish_rejections_total",
  "broker_store_commit_seconds_bucket",
  "broker_subscribers",
  "broker_group_backlog",
  "broker_group_oldest_unacked_age_seconds",
  "broker_group_in_flight",
  "broker_group_retrying",
  "broker_group_dead_letters",
  "broker_group_redeliveries_total",
  "broker_group_members",
  "broker_nats_connected",
  "broker_jetstream_mirror_lag_events",
  "broker_store_size_bytes",
  "broker_serving",
];

describe("Prometheus scraping a broker with the shipped alert rules", () => {
  let nats: NatsServer;
  let t: TestBroker;
  let prom: Prometheus;
  let consumer: Consumer | undefined;

  before(async () => {
    nats = await startNatsServer();
    t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_METRICS_PORT: "0" });
    prom = await startPrometheus({ job: "qingyu-broker", targets: [`127.0.0.1:${t.broker.metricsPort}`], ruleFiles: [RULES], interval: "1s" });
  });
  after(async () => {
    await consumer?.stop();
    await prom?.[Symbol.asyncDispose]();
    await t?.close();
    await nats?.[Symbol.asyncDispose]();
  });

  const query = (q: string) => prom.api<{ result: Sample[] }>(`query?query=${encodeURIComponent(q)}`).then((d) => d.result);

  it("loads the rules, scrapes the broker's series, and fires the dead-letter alert when a group parks events", async () => {
    const rules = await prom.api<{ groups: { rules: { name: string }[] }[] }>("rules");
    assert.deepEqual(
      rules.groups.flatMap((g) => g.rules.map((r) => r.name)).sort(),
      ["BrokerNotServing", "ConsumerGroupDeadLettersGrowing", "ConsumerGroupLagGrowing", "JetStreamMirrorBehind", "NatsDisconnected", "StoreCommitLatencyHigh"],
    );
    await t.client.groups.create({ name: "royalty" });
    consumer = t.client.consume("royalty", () => {
      throw new RejectError("royalty account closed");
    });
    await t.client.publish(newEvent("like.added", { userId: "p0", targetType: TargetType.BOOK, targetId: "b1" }));
    // A refused publish (checked by the broker only), for the rejections series.
    await t.newClient({ validate: false }).publish(newEvent("like.added", { userId: "", targetType: TargetType.BOOK, targetId: "b1" })).catch(() => undefined);
    // Every series is in Prometheus, the group's dead letters among them (one event parked so far).
    let missing: string[] = [];
    await prom
      .until("every broker series", async () => {
        const found = new Set((await query('{job="qingyu-broker",__name__=~"broker_.+"}')).map((s) => s.metric["__name__"]));
        missing = EXPECTED_SERIES.filter((n) => !found.has(n));
        return missing.length === 0 ? true : undefined;
      })
      .catch((err: unknown) => assert.fail(`${String(err)}; missing: ${missing.join(", ")}`));
    const up = await query('up{job="qingyu-broker"}');
    assert.equal(up[0]?.value[1], "1");
    const deadBefore = await prom.until("royalty's dead letters at 1", async () => {
      const [s] = await query('broker_group_dead_letters{group="royalty"}');
      return s?.value[1] === "1" ? s : undefined;
    });
    assert.equal(deadBefore.metric["instance"], `127.0.0.1:${t.broker.metricsPort}`);

    // More parked events: the dead letters grow, the alert fires for the group.
    for (const user of ["p1", "p2"]) await t.client.publish(newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }));
    const alert = await prom.until("ConsumerGroupDeadLettersGrowing to fire", async () => {
      const { alerts } = await prom.api<{ alerts: Alert[] }>("alerts");
      return alerts.find((a) => a.labels["alertname"] === "ConsumerGroupDeadLettersGrowing" && a.state === "firing");
    });
    assert.equal(alert.labels["group"], "royalty");
    assert.equal(alert.labels["severity"], "warning");
    const [parked] = await query('broker_group_dead_letters{group="royalty"}');
    assert.equal(parked?.value[1], "3");
  });

  it("answers every query of the Grafana dashboard with data", async () => {
    const queries = dashboardQueries();
    assert.ok(queries.length >= 20);
    let empty: string[] = [];
    await prom
      .until("data for every dashboard query", async () => {
        const results = await Promise.all(queries.map(async (q) => ({ ...q, n: (await query(q.expr)).length })));
        empty = results.filter((r) => r.n === 0).map((r) => `${r.panel}: ${r.expr}`);
        return empty.length === 0 ? true : undefined;
      })
      .catch((err: unknown) => assert.fail(`${String(err)}; no data: ${empty.join("; ")}`));
  });
});
