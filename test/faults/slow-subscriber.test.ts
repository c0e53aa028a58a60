// Subscribers that stop reading are cut off with their resume position while another keeps the
// publish rate, and the broker's memory stays flat however long the publishing goes on.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { SubscribeRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { Code, TargetType, createBrokerClient, newEvent, type BrokerClient, type StreamPublisher } from "../../sdk/src/index.js";
import { liveMemoryMiB, spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { RawClient } from "../helpers/raw-client.js";


const RATE = 400;
const CONTENT = "慢".repeat(1_500); // about 4.5 kB per event: stalled streams fill fast

/** Publishes `count` events at RATE per second. */
async function paced(pub: StreamPublisher, from: number, count: number): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; i < count; i++) {
    const due = t0 + (i * 1000) / RATE;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    const n = from + i;
    void pub.publish(newEvent("comment.created", { userId: `s${n}`, targetType: TargetType.BOOK, targetId: "b", commentId: `c${n}`, content: CONTENT }, { source: "slow-svc" }));
  }
}

describe("slow subscriber", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-slow-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_METRICS_PORT: "0", BROKER_SUBSCRIBER_BUFFER: "500", BROKER_SQLITE_SYNC: "normal" }, undefined, ["--expose-gc"]);
    client = createBrokerClient({ address: broker.address });
  });
  after(async () => {
    client.close();
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is cut off with RESOURCE_EXHAUSTED and a resume position; others keep the rate; memory stays flat", async () => {
    const raw = new RawClient(broker.address);
    const request = toBinary(SubscribeRequestSchema, create(SubscribeRequestSchema, { filter: { sources: ["slow-svc"] }, start: { case: "fromNow", value: true } }));
    const stalled = Array.from({ length: 5 }, () => raw.stalledStream("/qingyu.broker.v1.EventBrokerService/Subscribe", request));
    const ac = new AbortController();
    const arrivals: number[] = [];
    const healthy = (async () => {
      for await (const _ of client.subscribe({ sources: ["slow-svc"] }, { signal: ac.signal })) arrivals.push(Date.now());
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    const pub = client.publisher({ window: 200 });
    const cutOffs = () => broker.logs.filter((l) => String(l["detail"] ?? "").includes("subscriber too slow")).length;

    await paced(pub, 0, 2_000);
    await pub.flush();
    const deadline = Date.now() + 5_000;
    while (cutOffs() < stalled.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.equal(cutOffs(), stalled.length, "not every stalled subscriber was cut off");
    const settled = await liveMemoryMiB(broker);
    await paced(pub, 2_000, 2_000);
    await pub.close();
    const later = await liveMemoryMiB(broker);

    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await healthy;
    assert.equal(arrivals.length, 4_000, "the healthy subscriber missed events");
    const span = ((arrivals.at(-1) as number) - (arrivals[0] as number)) / 1000;
    assert.ok(span < (4_000 / RATE) * 1.5, `the healthy subscriber fell behind: ${span.toFixed(1)} s for ${4_000 / RATE} s of events`);
    for (const s of stalled) s.resume();
    for (const s of stalled) {
      const result = await s.status;
      assert.equal(result.code, Code.RESOURCE_EXHAUSTED, result.details);
      assert.equal(result.reason, "ERROR_REASON_SLOW_CONSUMER");
      assert.match(result.details, /resume after position '[0-9a-f]{16}'/);
    }
    raw.close();
    // 2,000 more events of 4.5 kB (9 MB) after the cut-offs: buffering for the stalled five would
    // show as 45 MB here.
    assert.ok(later - settled < 8, `broker live memory grew by ${(later - settled).toFixed(1)} MiB after the cut-offs`);
  });
});
