// The HTTP port's bounds (issue 16, review): responses are bounded by the handlers (a page by its
// budget in the binary encoding), not by Connect's writeMaxBytes, so a JSON page, larger than its
// binary form, still answers; request bodies are held to the gRPC port's incomplete-message bounds.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
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
