// https://github.com/qingyu/event-broker/issues/11 (6): small mismatches with our own contract.
// /metrics ran a full GC for any caller and answered any path starting with it; subject prefixes
// missed subjects with U+10FFFF after the prefix in every store read while live Subscribe
// delivered them; pre-1970 times and a one-nanosecond range were refused.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { TimestampSchema } from "@bufbuild/protobuf/wkt";
import { connect } from "node:http2";
import { status } from "@grpc/grpc-js";
import { createBrokerClient, type BrokerClient } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { sampleEvent } from "../helpers/sample-events.js";

const SOURCE = "contract-mismatch-test";

async function metric(b: BrokerProcess, path: string): Promise<{ status: number; text: string }> {
  const res = await fetch(`http://127.0.0.1:${b.metricsPort}${path}`);
  return { status: res.status, text: await res.text() };
}

function majorGcs(text: string): number {
  return Number(/^nodejs_gc_duration_seconds_count\{kind="major"\} (\d+)/m.exec(text)?.[1] ?? 0);
}

/** One raw HTTP/2 request: its HTTP status and grpc-status (-1 when none came). */
async function rawCall(address: string, headers: Record<string, string>, body: Buffer): Promise<{ http: number; grpc: number }> {
  const session = connect(`http://${address}`).on("error", () => undefined);
  const req = session.request({ ":method": "POST", ":path": "/qingyu.broker.v1.EventBrokerService/Publish", "content-type": "application/grpc", te: "trailers", ...headers });
  req.on("error", () => undefined);
  req.resume();
  let http = -1;
  let grpcStatus = -1;
  const take = (h: Record<string, unknown>) => h["grpc-status"] !== undefined && (grpcStatus = Number(h["grpc-status"]));
  req.on("response", (h) => ((http = Number(h[":status"])), take(h)));
  req.on("trailers", take);
  req.end(body);
  await new Promise((resolve) => req.once("close", resolve));
  session.close();
  return { http, grpc: grpcStatus };
}

/** A gRPC frame: compressed flag, length, bytes. */
function frame(bytes: Buffer, compressed = false): Buffer {
  const head = Buffer.alloc(5);
  head[0] = compressed ? 1 : 0;
  head.writeUInt32BE(bytes.length, 1);
  return Buffer.concat([head, bytes]);
}

describe("contract mismatches (issue 11, 6)", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-contract-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_METRICS_PORT: "0" }, 60_000, ["--expose-gc"]);
    client = createBrokerClient({ address: broker.address });
  });
  after(async () => {
    client.close();
    assert.equal((await broker.stop()).code, 0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves exactly /metrics and runs no GC for a caller", async () => {
    const before = majorGcs((await metric(broker, "/metrics")).text);
    for (let i = 0; i < 20; i++) assert.equal((await metric(broker, "/metrics?gc=1")).status, 200);
    const after = majorGcs((await metric(broker, "/metrics")).text);
    assert.ok(after - before < 5, `${after - before} major GCs during 20 scrapes with ?gc=1`);
    assert.equal((await metric(broker, "/metricsXYZ")).status, 404);
    assert.equal((await metric(broker, "/metrics/x")).status, 404);
  });

  it("finds subjects with U+10FFFF after a prefix in every read, as live Subscribe does", async () => {
    const subjects = ["book/7\u{10FFFF}a", "book/7b", "book/7\u{10FFFF}\u{10FFFF}", "book/8"];
    const live = client.subscribe({ sources: [SOURCE], subject: "book/7*" }, { from: "beginning" })[Symbol.asyncIterator]();
    for (const subject of subjects) {
      const e = sampleEvent("like.added");
      e.id = e.id.slice(0, -4) + String(2000 + subjects.indexOf(subject));
      e.source = SOURCE;
      e.subject = subject;
      await client.publish(e);
    }
    const wanted = subjects.filter((s) => s.startsWith("book/7")).sort();
    const liveSeen: string[] = [];
    while (liveSeen.length < wanted.length) liveSeen.push((await live.next()).value.subject);
    await live.return?.();
    assert.deepEqual(liveSeen.sort(), wanted);
    for (const prefix of ["book/7", "book/7\u{10FFFF}"]) {
      const expected = subjects.filter((s) => s.startsWith(prefix)).sort();
      const query = { sources: [SOURCE], subject: `${prefix}*` };
      const page = await client.queryPage(query);
      assert.deepEqual(page.events.map((e) => e.subject).sort(), expected, `query ${prefix}`);
      assert.equal(await client.countEvents(query), expected.length, `count ${prefix}`);
      const replayed: string[] = [];
      for await (const e of client.replay(query)) replayed.push(e.subject);
      assert.deepEqual(replayed.sort(), expected, `replay ${prefix}`);
    }
  });

  it("answers undecodable requests with INVALID_ARGUMENT and refuses gRPC-web", async () => {
    const one = frame(Buffer.from([0x0a, 0x00]));
    const cases: [string, Record<string, string>, Buffer][] = [
      ["an empty body", {}, Buffer.alloc(0)],
      ["two messages on a unary call", {}, Buffer.concat([one, one])],
      ["a body that does not decompress", { "grpc-encoding": "gzip" }, frame(Buffer.from("not gzip"), true)],
      ["a malformed grpc-timeout", { "grpc-timeout": "soon" }, one],
    ];
    for (const [what, headers, body] of cases) {
      const res = await rawCall(broker.address, headers, body);
      assert.equal(res.grpc, status.INVALID_ARGUMENT, `${what}: ${JSON.stringify(res)}`);
    }
    const web = await rawCall(broker.address, { "content-type": "application/grpc-web+proto" }, one);
    assert.equal(web.http, 415, JSON.stringify(web));
  });

  it("accepts pre-1970 times and a one-nanosecond range", async () => {
    const old = await client.queryPage({ sources: [SOURCE], from: create(TimestampSchema, { seconds: -86_400n * 365n, nanos: 0 }) });
    assert.ok(old.events.length > 0);
    const ts = (nanos: number) => create(TimestampSchema, { seconds: 1_700_000_000n, nanos });
    const tiny = await client.queryPage({ sources: [SOURCE], from: ts(0), to: ts(1) });
    assert.equal(tiny.events.length, 0);
    assert.equal(await client.countEvents({ sources: [SOURCE], from: ts(5), to: ts(6) }), 0);
  });
});
