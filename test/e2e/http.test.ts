// The HTTP port (issue 16, 1): the broker's services over Connect (JSON and binary, unary and
// server-streaming) and gRPC-web, on a real broker over real HTTP, answering as the gRPC port does.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EventBrokerService, QueryEventsRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { ErrorInfoSchema, LimitExceededSchema } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { Health } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { BrokerError } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { postJson } from "../helpers/http.js";

/** The reason an error's ErrorInfo names, as the SDK's BrokerError reads it from gRPC. */
function reasonOf(err: unknown): string | undefined {
  assert.ok(err instanceof ConnectError, String(err));
  return err.findDetails(ErrorInfoSchema)[0]?.reason;
}

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => ConnectError.from(e),
  );
}

describe("HTTP port: Connect and gRPC-web over the gRPC port's handlers", () => {
  let t: TestBroker;
  let base: string;
  let json: Client<typeof EventBrokerService>;
  let binary: Client<typeof EventBrokerService>;
  let grpcWeb: Client<typeof EventBrokerService>;
  const published: { id: string; position: string }[] = [];

  before(async () => {
    t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_METRICS_PORT: "0", BROKER_MAX_MESSAGE_BYTES: String(64 << 10), BROKER_MAX_EVENT_BYTES: String(32 << 10) });
    assert.ok(t.broker.httpPort !== undefined && t.broker.httpPort > 0);
    base = `http://127.0.0.1:${t.broker.httpPort}`;
    json = createClient(EventBrokerService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
    binary = createClient(EventBrokerService, createConnectTransport({ baseUrl: base, httpVersion: "1.1", useBinaryFormat: true }));
    grpcWeb = createClient(EventBrokerService, createGrpcWebTransport({ baseUrl: base, httpVersion: "1.1" }));
    for (const type of ["like.added", "like.added", "comment.created"] as const) {
      const r = await t.client.publish({ ...sampleEvent(type), source: "social-svc" });
      published.push({ id: r.id, position: r.position });
    }
  });
  after(() => t.close());

  it("answers a plain JSON QueryEvents with the catalog's field names", async () => {
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`, { filter: { types: ["like.added"] }, pageSize: 10 });
    assert.equal(res.status, 200);
    assert.match(res.contentType, /^application\/json/);
    const events = (res.body as { events: Record<string, unknown>[] }).events;
    assert.deepEqual(
      events.map((e) => e["id"]),
      published.slice(0, 2).map((p) => p.id),
    );
    assert.equal(events[0]?.["type"], "like.added");
    assert.ok(typeof events[0]?.["likeAdded"] === "object", "the payload is under its case's JSON name");
    assert.equal(events[0]?.["position"], published[0]?.position);
  });

  it("serves the same call in the binary Connect protocol and over gRPC-web", async () => {
    for (const client of [binary, grpcWeb]) {
      const page = await client.queryEvents({ filter: { types: ["comment.created"] } });
      assert.deepEqual(
        page.events.map((e) => e.id),
        [published[2]?.id],
      );
      const one = await client.getEvent({ id: published[0]?.id ?? "" });
      assert.equal(one.event?.payload.case, "likeAdded");
    }
  });

  it("streams Replay to the end of the log, in JSON and over gRPC-web", async () => {
    for (const client of [json, grpcWeb]) {
      const ids: string[] = [];
      for await (const r of client.replay({ filter: { domains: ["social"] } })) if (r.event) ids.push(r.event.id);
      assert.deepEqual(
        ids,
        published.map((p) => p.id),
      );
    }
  });

  it("delivers live events on a Subscribe stream as they are published", async () => {
    const abort = new AbortController();
    const sent: string[] = [];
    const seen: string[] = [];
    try {
      for await (const r of binary.subscribe({ filter: { types: ["follow.added"] } }, { signal: abort.signal })) {
        if (r.kind.case === "caughtUp") {
          for (let i = 0; i < 2; i++) sent.push((await t.client.publish({ ...sampleEvent("follow.added"), source: "social-svc" })).id);
        }
        if (r.kind.case === "event") seen.push(r.kind.value.id);
        if (seen.length === 2) abort.abort();
      }
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Canceled) throw err;
    }
    assert.deepEqual(seen, sent);
  });

  it("refuses a bad request with INVALID_ARGUMENT and the same ErrorInfo reason as gRPC, readable in the JSON", async () => {
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`, { filter: { types: ["no.such.type"] } });
    assert.equal(res.status, 400);
    const body = res.body as { code: string; details: { type: string; debug: { reason?: string } }[] };
    assert.equal(body.code, "invalid_argument");
    assert.equal(body.details[0]?.type, "qingyu.broker.v1.ErrorInfo");
    assert.equal(body.details[0]?.debug.reason, "ERROR_REASON_INVALID_REQUEST");
    const grpcErr = await t.client.queryPage({ types: ["no.such.type" as never] }).then(
      () => assert.fail("expected a failure"),
      (e: unknown) => BrokerError.from(e),
    );
    const webErr = await failure(grpcWeb.queryEvents({ filter: { types: ["no.such.type"] } }));
    assert.equal(webErr.code, Code.InvalidArgument);
    assert.equal(reasonOf(webErr), "ERROR_REASON_INVALID_REQUEST");
    assert.equal(`[INVALID_ARGUMENT] ${webErr.rawMessage}`, grpcErr.message);
  });

  it("refuses a body that does not decode with INVALID_ARGUMENT and MALFORMED_REQUEST, as the gRPC port does", async () => {
    const url = `${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`;
    const bodies: [string, string | Uint8Array][] = [
      ["application/json", "{not json"],
      ["application/json", '{"pageSize":"many"}'],
      ["application/proto", new Uint8Array([0x0a, 0xff, 0xff, 0xff])],
    ];
    for (const [contentType, body] of bodies) {
      const res = await fetch(url, { method: "POST", headers: { "content-type": contentType }, body });
      assert.equal(res.status, 400, `${String(body)}: ${await res.clone().text()}`);
      const error = (await res.json()) as { code: string; message: string; details: { debug: { reason: string } }[] };
      assert.equal(error.code, "invalid_argument");
      assert.equal(error.details[0]?.debug.reason, "ERROR_REASON_MALFORMED_REQUEST", error.message);
      assert.match(error.message, /^request is not a valid QueryEvents message: /);
    }
  });

  it("answers NOT_FOUND for an unknown event id, over JSON and gRPC-web", async () => {
    const id = "0190a4f0-0000-7000-8000-000000000000";
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/GetEvent`, { id });
    assert.equal(res.status, 404);
    assert.equal((res.body as { code: string }).code, "not_found");
    const err = await failure(grpcWeb.getEvent({ id }));
    assert.equal(err.code, Code.NotFound);
    assert.equal(reasonOf(err), "ERROR_REASON_EVENT_NOT_FOUND");
    // Counted with the gRPC port's failures, by method and code.
    const metrics = await (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
    assert.match(metrics, /^broker_rpc_errors_total\{method="GetEvent",code="NOT_FOUND"\} 2$/m);
  });

  it("holds events to BROKER_MAX_EVENT_BYTES with TOO_LARGE and its limit, as the gRPC port does", async () => {
    const big = { ...sampleEvent("comment.created"), source: "social-svc", metadata: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, "x".repeat(1_000)])) };
    const err = await failure(binary.publish({ event: big }));
    assert.equal(err.code, Code.ResourceExhausted);
    assert.equal(reasonOf(err), "ERROR_REASON_TOO_LARGE");
    assert.equal(err.findDetails(LimitExceededSchema)[0]?.limit, BigInt(32 << 10));
  });

  it("refuses a request message over BROKER_MAX_MESSAGE_BYTES with RESOURCE_EXHAUSTED", async () => {
    const oversized = toBinary(QueryEventsRequestSchema, create(QueryEventsRequestSchema, { filter: { sources: ["s".repeat(70 << 10)] } }));
    const res = await fetch(`${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`, { method: "POST", headers: { "content-type": "application/proto" }, body: oversized });
    assert.equal(res.status, 429);
    assert.equal(((await res.json()) as { code: string }).code, "resource_exhausted");
  });

  it("says that client streams are on the gRPC port only: UNIMPLEMENTED, in JSON and over gRPC-web", async () => {
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/PublishStream`, {});
    assert.equal(res.status, 501);
    const body = res.body as { code: string; message: string };
    assert.equal(body.code, "unimplemented");
    assert.match(body.message, /gRPC port/);
    const web = await fetch(`${base}/qingyu.broker.v1.ConsumerGroupService/Consume`, { method: "POST", headers: { "content-type": "application/grpc-web+proto" }, body: new Uint8Array(5) });
    assert.equal(web.headers.get("grpc-status"), "12");
  });

  it("serves health checks (open, as on the gRPC port) and answers 404 off the services and the console", async () => {
    const health = createClient(Health, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
    assert.equal((await health.check({})).status, 1);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});

describe("HTTP port: extension point and shutdown", () => {
  it("hands paths that are no service method to the fallback given at start-up (the console's files)", async () => {
    await using t = await startTestBroker({ BROKER_HTTP_PORT: "0" }, undefined, {
      start: {
        httpFallback: (req, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(`console at ${req.url ?? ""}`);
        },
      },
    });
    const base = `http://127.0.0.1:${t.broker.httpPort}`;
    assert.equal(await (await fetch(`${base}/index.html`)).text(), "console at /index.html");
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/CountEvents`, {});
    assert.deepEqual(res.body, {});
  });

  it("ends a Subscribe stream with UNAVAILABLE and SHUTTING_DOWN when the broker stops, as on the gRPC port", async () => {
    const t = await startTestBroker({ BROKER_HTTP_PORT: "0" });
    const client = createClient(EventBrokerService, createConnectTransport({ baseUrl: `http://127.0.0.1:${t.broker.httpPort}`, httpVersion: "1.1" }));
    const ended = (async () => {
      for await (const r of client.subscribe({})) if (r.kind.case === "caughtUp") void t.close();
    })().then(
      () => assert.fail("the stream ended without a status"),
      (e: unknown) => ConnectError.from(e),
    );
    const err = await ended;
    assert.equal(err.code, Code.Unavailable, err.message);
    assert.equal(reasonOf(err), "ERROR_REASON_SHUTTING_DOWN");
    await t.close();
  });
});
