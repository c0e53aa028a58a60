// Reads: "replay" streams every event (events/s); "query" asks for the newest 100 of one type, one
// call after the other (latency), through the SDK; "query-thin" asks the same through a thin
// HTTP/2 client that does not decode the answer, which leaves the broker's part of the latency.
import { create, toBinary } from "@bufbuild/protobuf";
import { QueryEventsRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { createBrokerClient } from "../../sdk/src/index.js";
import { args, latencySummary, report } from "../lib/stats.js";
import { ThinClient, framed } from "../lib/thin-client.js";

const { address, mode, calls = 1000, where } = args<{ address: string; mode: "replay" | "query" | "query-thin"; calls?: number; where?: string }>();
const client = createBrokerClient({ address });
if (mode === "query-thin") {
  const thin = new ThinClient(address);
  const request = framed(toBinary(QueryEventsRequestSchema, create(QueryEventsRequestSchema, { filter: { types: ["like.added"] }, pageSize: 100, newestFirst: true })));
  const latencies: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const status = await thin.call("/qingyu.broker.v1.EventBrokerService/QueryEvents", request);
    latencies.push(performance.now() - t);
    if (status !== 0) throw new Error(`QueryEvents answered status ${status}`);
  }
  thin.close();
  report({ calls, ...latencySummary(latencies) });
} else if (mode === "replay") {
  let n = 0;
  const t0 = performance.now();
  for await (const _ of client.replay(where === undefined ? {} : { where })) n++;
  const ms = performance.now() - t0;
  report({ events: n, ms, perSec: (n / ms) * 1000 });
} else {
  const latencies: number[] = [];
  for (let i = 0; i < calls; i++) {
    const t = performance.now();
    const page = await client.queryPage({ types: ["like.added"] }, { pageSize: 100, newestFirst: true });
    latencies.push(performance.now() - t);
    if (page.events.length !== 100) throw new Error(`expected 100 events, got ${page.events.length}`);
  }
  report({ calls, ...latencySummary(latencies) });
}
client.close();
