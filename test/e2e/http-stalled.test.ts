// The HTTP port and clients that stop reading (issue 16, review): a Subscribe stream whose client
// takes nothing ends like one on the gRPC port (SLOW_CONSUMER resets it), and one whose client then
// goes away leaves nothing behind. Real broker, real sockets: a raw HTTP/1.1 Connect stream that is
// never read, while events far larger than the socket buffers are published.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";

/** An event of about 200 KB (metadata at the catalog's bounds, 3 bytes a character): a few dozen fill every buffer between the broker and a client that does not read. */
function bigEvent() {
  return { ...sampleEvent("comment.created"), source: "social-svc", metadata: Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, "中".repeat(1_024)])) };
}

async function gauge(t: TestBroker, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
  const m = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  assert.ok(m, `${name} is exported`);
  return Number(m[1]);
}

async function until(what: string, cond: () => Promise<boolean>, publish?: () => Promise<void>): Promise<void> {
  for (let i = 0; !(await cond()); i++) {
    assert.ok(i < 2_000, `never: ${what}`);
    if (publish) await publish();
    else await sleep(50);
  }
}

/** Opens a Connect (JSON) Subscribe stream over HTTP/1.1, waits for its first bytes, then stops reading. */
async function stalledSubscriber(port: number): Promise<Socket> {
  const body = Buffer.from(JSON.stringify({ filter: { types: ["comment.created"] } }));
  const envelope = Buffer.alloc(5);
  envelope.writeUInt32BE(body.length, 1);
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.write(
    `POST /qingyu.broker.v1.EventBrokerService/Subscribe HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/connect+json\r\ncontent-length: ${envelope.length + body.length}\r\n\r\n`,
  );
  socket.write(Buffer.concat([envelope, body]));
  const [first] = (await once(socket, "data")) as [Buffer];
  assert.match(first.toString("latin1"), /^HTTP\/1\.1 200/);
  socket.pause();
  return socket;
}

/** Resumes reading and waits for the broker's end of the connection. */
async function closedByBroker(socket: Socket): Promise<void> {
  socket.on("error", () => {});
  socket.resume();
  if (!socket.destroyed) await once(socket, "close");
}

describe("HTTP port: a client that stops reading", () => {
  let slow: TestBroker;
  let roomy: TestBroker;
  before(async () => {
    slow = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_METRICS_PORT: "0", BROKER_SUBSCRIBER_BUFFER: "16" });
    roomy = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_METRICS_PORT: "0" });
  });
  after(async () => {
    await slow.close();
    await roomy.close();
  });

  it("is ended as a slow consumer: the broker closes the connection and the subscription is gone", async () => {
    const socket = await stalledSubscriber(slow.broker.httpPort ?? 0);
    await until("the subscription is counted", async () => (await gauge(slow, "broker_subscribers")) === 1);
    // More than BROKER_SUBSCRIBER_BUFFER events once every socket buffer is full: published until the
    // broker gives the subscriber up (a broker that never does fails the test after 2,000).
    await until(
      "the stalled subscriber is ended",
      async () => (await gauge(slow, "broker_subscribers")) === 0,
      async () => void (await slow.client.publish(bigEvent())),
    );
    await closedByBroker(socket);
    const metrics = await (await fetch(`http://127.0.0.1:${slow.broker.metricsPort}/metrics`)).text();
    assert.match(metrics, /^broker_rpc_errors_total\{method="Subscribe",code="RESOURCE_EXHAUSTED"\} 1$/m);
  });

  it("leaves nothing behind when it then goes away in the middle of a write", async () => {
    const socket = await stalledSubscriber(roomy.broker.httpPort ?? 0);
    await until("the subscription is counted", async () => (await gauge(roomy, "broker_subscribers")) === 1);
    // 100 events of 200 KB: 20 MB, more than the socket buffers hold, fewer than the subscriber's buffer
    // (10,000): the broker is left waiting to write, and only the client's going away can end that.
    for (let i = 0; i < 100; i++) await roomy.client.publish(bigEvent());
    socket.destroy();
    await until("the subscription is gone", async () => (await gauge(roomy, "broker_subscribers")) === 0);
  });
});
