// A long-lived service never leaks (https://github.com/qingyu/event-broker/issues/13): a subscription
// and a consumer that reconnect thousands of times keep one abort listener on the caller's signal and
// a flat heap, and the consumer's backoff starts over after a session that joined its group.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { rmSync } from "node:fs";
import { createServer } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createBrokerClient, newEvent, TargetType, type BrokerClient, type SdkLogger } from "../../sdk/src/index.js";
import { startTestBroker } from "../helpers/broker.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Counts the SDK's warnings, keeps the first `keep` of them and the distinct messages with codes
 * (keeping them all would itself grow the heap being measured), and resolves waiters once a given
 * number arrived.
 */
class WarnLog implements SdkLogger {
  count = 0;
  readonly warns: { obj: Record<string, unknown>; msg: string }[] = [];
  readonly kinds = new Set<string>();
  private waiters: { n: number; resolve: () => void }[] = [];
  constructor(private readonly keep = 100) {}
  debug(): void {}
  warn(obj: object, msg: string): void {
    this.count++;
    if (this.warns.length < this.keep) this.warns.push({ obj: obj as Record<string, unknown>, msg });
    this.kinds.add(`${msg} ${(obj as Record<string, unknown>)["code"]}`);
    this.waiters = this.waiters.filter((w) => (this.count >= w.n ? (w.resolve(), false) : true));
  }
  reached(n: number): Promise<void> {
    return this.count >= n ? Promise.resolve() : new Promise((resolve) => this.waiters.push({ n, resolve }));
  }
}

function heapUsed(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

// Thousands of reconnects with a 1 ms cap: what hours against a down broker at the default 5 s cap
// do. The first ones warm up grpc-js and the JIT (about 0.7 MB of heap), so the measure starts after.
const WARM_UP = 1_500;
const RECONNECTS = 3_000;
// A leak of one listener closure per reconnect is ~150 B × 3,000; a leaked call or timer is far more.
const HEAP_SLACK_BYTES = 2 << 20;

describe("reconnecting against an unreachable broker", () => {
  const clients: BrokerClient[] = [];
  after(() => clients.forEach((c) => c.close()));

  async function measure(logger: WarnLog, signal: AbortSignal) {
    await logger.reached(WARM_UP);
    const before = { listeners: getEventListeners(signal, "abort").length, heap: heapUsed() };
    await logger.reached(WARM_UP + RECONNECTS);
    const afterwards = { listeners: getEventListeners(signal, "abort").length, heap: heapUsed() };
    console.log(`# ${RECONNECTS} reconnects: abort listeners ${before.listeners} -> ${afterwards.listeners}, heap ${before.heap} -> ${afterwards.heap} B`);
    return { before, afterwards };
  }

  it("a subscription keeps one abort listener and a flat heap", async () => {
    const logger = new WarnLog();
    const client = createBrokerClient({ address: `127.0.0.1:${await closedPort()}`, logger });
    clients.push(client);
    const ac = new AbortController();
    const run = (async () => {
      for await (const _ of client.subscribe({}, { signal: ac.signal, maxReconnectDelayMs: 1 })) assert.fail("no event can arrive");
    })();
    const { before, afterwards } = await measure(logger, ac.signal);
    ac.abort();
    await run;
    assert.ok(afterwards.listeners <= 1, `abort listeners: ${before.listeners} after ${WARM_UP} reconnects, ${afterwards.listeners} after ${WARM_UP + RECONNECTS}`);
    assert.ok(afterwards.heap - before.heap < HEAP_SLACK_BYTES, `heap grew by ${afterwards.heap - before.heap} B over ${RECONNECTS} reconnects`);
    assert.equal(getEventListeners(ac.signal, "abort").length, 0, "a finished subscription leaves no listener");
    assert.deepEqual([...logger.kinds], ["subscription reconnecting 14"]);
  });

  it("a consumer keeps one abort listener and a flat heap", async () => {
    const logger = new WarnLog();
    const client = createBrokerClient({ address: `127.0.0.1:${await closedPort()}`, logger });
    clients.push(client);
    const ac = new AbortController();
    const consumer = client.consume("never-joined", () => assert.fail("no event can arrive"), { signal: ac.signal, maxReconnectDelayMs: 1 });
    const { before, afterwards } = await measure(logger, ac.signal);
    ac.abort();
    await consumer.done;
    assert.ok(afterwards.listeners <= 1, `abort listeners: ${before.listeners} after ${WARM_UP} reconnects, ${afterwards.listeners} after ${WARM_UP + RECONNECTS}`);
    assert.ok(afterwards.heap - before.heap < HEAP_SLACK_BYTES, `heap grew by ${afterwards.heap - before.heap} B over ${RECONNECTS} reconnects`);
    assert.equal(getEventListeners(ac.signal, "abort").length, 0, "a stopped consumer leaves no listener");
  });
});

describe("Consumer reconnect backoff", () => {
  it("starts over after a session that joined the group", async () => {
    let broker = await startTestBroker();
    const { port, dataDir } = broker;
    const logger = new WarnLog(Infinity);
    // grpc-js keeps its own reconnect backoff per channel (1 s, growing to 2 min): kept short here so
    // the consumer's own backoff is what the test observes.
    const client = createBrokerClient({
      address: broker.address,
      logger,
      channelOptions: { "grpc.initial_reconnect_backoff_ms": 50, "grpc.max_reconnect_backoff_ms": 100 },
    });
    let arrived: () => void = () => undefined;
    try {
      await broker.client.groups.ensure({ name: "reset", filter: { types: ["like.added"] } });
      const consumer = client.consume("reset", () => arrived(), { maxReconnectDelayMs: 20 });
      const deliveredOn = async (b: typeof broker) => {
        const got = new Promise<void>((resolve) => (arrived = resolve));
        // Published until one arrives: the consumer may still be between two sessions.
        for (let i = 0, delivered = false; !delivered; i++) {
          await b.client.publish(newEvent("like.added", { userId: `u${i}`, targetType: TargetType.BOOK, targetId: "b1" }, { source: "reset-svc" }));
          delivered = await Promise.race([got.then(() => true), sleepFor(200)]);
        }
      };
      await deliveredOn(broker);
      await broker.close({ keepData: true });
      await logger.reached(5);
      const firstOutage = logger.warns.map((w) => w.obj["attempt"]);
      assert.deepEqual(firstOutage.slice(0, 5), [1, 2, 3, 4, 5]);

      broker = await startTestBroker({ BROKER_GRPC_PORT: String(port) }, dataDir);
      await deliveredOn(broker);
      const seen = logger.count;
      await broker.close({ keepData: true });
      await logger.reached(seen + 1);
      assert.equal(logger.warns[seen]?.obj["attempt"], 1, "the first reconnect after a joined session waits the base delay");
      await consumer.stop();
    } finally {
      client.close();
      await broker.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

const sleepFor = (ms: number) => new Promise<false>((resolve) => setTimeout(() => resolve(false), ms));
