// The HTTP port's bounds (issue 16, review): responses are bounded by the handlers (a page by its
// budget in the binary encoding), not by Connect's writeMaxBytes, so a JSON page, larger than its
// binary form, still answers; request bodies are held to the gRPC port's incomplete-message bounds.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { postJson } from "../helpers/http.js";

describe("HTTP port: bounds", () => {
  let t: TestBroker;
  let base: string;
  before(async () => {
    t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_MAX_MESSAGE_BYTES: String(64 << 10), BROKER_MAX_EVENT_BYTES: String(32 << 10) });
    base = `http://127.0.0.1:${t.broker.httpPort}`;
  });
  after(() => t.close());

  it("answers a JSON QueryEvents page of events near BROKER_MAX_EVENT_BYTES, though its JSON is larger than the message bound", async () => {
    // A control character is one byte in protobuf and six in JSON (\u0001): 28 KB of them are 168 KB of JSON.
    const metadata = Object.fromEntries(Array.from({ length: 28 }, (_, i) => [`k${i}`, "\u0001".repeat(1_000)]));
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push((await t.client.publish({ ...sampleEvent("comment.created"), source: "social-svc", metadata })).id);
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`, { filter: { types: ["comment.created"] }, pageSize: 10 });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const events = (res.body as { events: { id: string; metadata: Record<string, string> }[] }).events;
    assert.ok(events.length >= 1);
    assert.deepEqual(
      events.map((e) => e.id),
      ids.slice(0, events.length),
    );
    assert.equal(events[0]?.metadata["k0"], "\u0001".repeat(1_000));
  });
});

/** A raw HTTP/1.1 Connect QueryEvents whose body announces `length` bytes: its headers are sent, no body yet. */
async function partialRequest(port: number, length: number): Promise<{ socket: Socket; answer: Promise<string> }> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  socket.on("error", () => {});
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  const answer = once(socket, "close").then(() => Buffer.concat(chunks).toString("latin1"));
  socket.write(`POST /qingyu.broker.v1.EventBrokerService/QueryEvents HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${length}\r\n\r\n`);
  return { socket, answer };
}

/** A JSON QueryEvents body of exactly `length` bytes (padded with spaces). */
function queryBody(length: number): Buffer {
  const json = JSON.stringify({ pageSize: 1 });
  return Buffer.from(json + " ".repeat(length - json.length));
}

describe("HTTP port: request bodies held to the incomplete-message bounds", () => {
  it("cuts off a body that stops half-way, and one that comes a byte now and then", async () => {
    await using t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS: "300", BROKER_PREFACE_TIMEOUT_MS: "300" });
    const port = t.broker.httpPort ?? 0;
    const stopped = await partialRequest(port, 1_000);
    stopped.socket.write(queryBody(1_000).subarray(0, 100));
    const dribbled = await partialRequest(port, 1_000);
    const body = queryBody(1_000);
    let sent = 0;
    const closed = dribbled.answer.then(() => true);
    // One byte every 50 ms: the body would take 50 s; it has BROKER_INCOMPLETE_MESSAGE_TIMEOUT_MS.
    while (!(await Promise.race([closed, sleep(50).then(() => false)]))) {
      assert.ok(sent < body.length - 1, "the body was let in a byte at a time to its end");
      dribbled.socket.write(body.subarray(sent, ++sent));
    }
    for (const answer of [await stopped.answer, await dribbled.answer]) assert.doesNotMatch(answer, /^HTTP\/1\.1 200/, "no answer to an incomplete body");
    // The port still answers complete requests.
    const ok = await postJson(`http://127.0.0.1:${port}/qingyu.broker.v1.EventBrokerService/CountEvents`, {});
    assert.equal(ok.status, 200);
  });

  it("refuses partial bodies past BROKER_MAX_INCOMPLETE_BYTES, together, and lets the others finish", async () => {
    await using t = await startTestBroker({
      BROKER_HTTP_PORT: "0",
      BROKER_MAX_MESSAGE_BYTES: String(64 << 10),
      BROKER_MAX_EVENT_BYTES: String(32 << 10),
      BROKER_MAX_INCOMPLETE_BYTES_PER_CONNECTION: String(64 << 10),
      BROKER_MAX_INCOMPLETE_BYTES: String(128 << 10),
    });
    const port = t.broker.httpPort ?? 0;
    const size = 60 << 10;
    const body = queryBody(size);
    const held = [];
    for (let i = 0; i < 2; i++) {
      const r = await partialRequest(port, size);
      r.socket.write(body.subarray(0, size - 10));
      held.push(r);
    }
    // 120 KiB held by two bodies; the third passes 128 KiB and is cut off.
    const third = await partialRequest(port, size);
    third.socket.write(body.subarray(0, size - 10));
    assert.doesNotMatch(await third.answer, /^HTTP\/1\.1 200/);
    for (const r of held) {
      r.socket.write(body.subarray(size - 10));
      assert.match(await r.answer, /^HTTP\/1\.1 200/);
    }
  });
});
