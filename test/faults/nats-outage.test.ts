// nats-server killed and restarted while two broker processes serve live subscriptions.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TargetType, createBrokerClient, newEvent, type BrokerClient, type Event } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

/** A gauge's value on a broker's /metrics. */
async function gauge(b: BrokerProcess, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${b.metricsPort}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

/** Polls until the gauge reads `want`, failing with its last value after `ms`. */
async function gaugeBecomes(b: BrokerProcess, name: string, want: number, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  let last: number | undefined;
  while ((last = await gauge(b, name)) !== want) {
    if (Date.now() > deadline) assert.fail(`${name} stayed ${last}, expected ${want}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("nats-server outage during live subscriptions", () => {
  let nats: NatsServer;
  let dir: string;
  let a: BrokerProcess;
  let b: BrokerProcess;
  let clients: BrokerClient[] = [];
  before(async () => {
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), "fault-nats-"));
    const env = { BROKER_DATA_DIR: dir, BROKER_NATS_URL: nats.url, BROKER_SQLITE_SYNC: "normal", BROKER_METRICS_PORT: "0" };
    [a, b] = await Promise.all([spawnBroker(env), spawnBroker(env)]);
  });
  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([a.stop(), b.stop()]);
    await nats[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("every subscriber on both replicas ends with the exact set, in order", async () => {
    const total = 1_500;
    const publisher = createBrokerClient({ address: a.address });
    clients = [publisher, createBrokerClient({ address: a.address }), createBrokerClient({ address: b.address })];
    const ac = new AbortController();
    const received: Event[][] = [[], [], [], []];
    let ready = 0;
    const subs = received.map((list, i) =>
      (async () => {
        const client = clients[1 + (i % 2)] as BrokerClient;
        for await (const e of client.subscribe({ sources: ["outage-svc"] }, { signal: ac.signal, onCaughtUp: () => void ready++ })) {
          list.push(e);
          if (list.length === total) return;
        }
      })(),
    );
    while (ready < received.length) await new Promise((r) => setTimeout(r, 10));
    const sent: string[] = [];
    const pub = publisher.publisher({ window: 100 });
    for (let i = 0; i < total; i++) {
      if (i === 400) await nats.stop("SIGKILL");
      if (i === 1_000) await nats.restart();
      const e = newEvent("like.added", { userId: `n${i}`, targetType: TargetType.BOOK, targetId: "b1" }, { source: "outage-svc" });
      sent.push(e.id);
      await pub.publish(e);
    }
    await pub.close();
    const timer = setTimeout(() => ac.abort(), 30_000);
    await Promise.all(subs);
    clearTimeout(timer);
    for (const list of received) assert.deepEqual(list.map((e) => e.id), sent);
  });

  it("broker_nats_connected reads 0 while nats-server is away and 1 once it is back", async () => {
    await gaugeBecomes(a, "broker_nats_connected", 1);
    await nats.stop("SIGKILL");
    await Promise.all([gaugeBecomes(a, "broker_nats_connected", 0), gaugeBecomes(b, "broker_nats_connected", 0)]);
    await nats.restart();
    await Promise.all([gaugeBecomes(a, "broker_nats_connected", 1), gaugeBecomes(b, "broker_nats_connected", 1)]);
  });
});
