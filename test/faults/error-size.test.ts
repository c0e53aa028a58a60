// https://github.com/qingyu/event-broker/issues/11 (3): errors echo the client's input. An error
// whose trailers exceeded the peer's header limit was never sent: the call hung, and every other
// call on the same HTTP/2 connection (the SDK shares one) waited until its deadline. Echoed values
// are cut, violation lists capped with a count of the rest, every status fits under 7 KiB, and log
// lines stay short.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, toBinary } from "@bufbuild/protobuf";
import { status, type ServiceError } from "@grpc/grpc-js";
import { PublishRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { BrokerError, createBrokerClient, type BrokerClient } from "../../sdk/src/index.js";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { RawClient } from "../helpers/raw-client.js";
import { sampleEvent } from "../helpers/sample-events.js";

const HUGE = "x".repeat(1 << 20);
/** What a status may take on the wire: grpc-message plus grpc-status-details-bin (base64). */
const MAX_TRAILER_BYTES = 7 << 10;

/** The status's size on the wire, from the grpc-js error the SDK's error wraps. */
function trailerBytes(err: BrokerError): number {
  const cause = err.cause as ServiceError;
  const raw = cause.metadata.get("grpc-status-details-bin")[0];
  const details = raw instanceof Buffer ? Math.ceil(raw.length / 3) * 4 : 0;
  return encodeURI(cause.details).length + details;
}

async function failure(p: Promise<unknown>): Promise<BrokerError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof BrokerError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

describe("errors that echo a hostile client's input (issue 11, 3)", () => {
  let dir: string;
  let broker: BrokerProcess;
  let client: BrokerClient;
  let raw: RawClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-errsize-"));
    // Caller mistakes are logged at debug: the log-size check needs them in the log.
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_LOG_LEVEL: "debug" });
    client = createBrokerClient({ address: broker.address });
    raw = new RawClient(broker.address);
  });
  after(async () => {
    client.close();
    raw.close();
    assert.equal((await broker.stop()).code, 0);
    rmSync(dir, { recursive: true, force: true });
  });

  it("answers a 1 MiB filter value with a short INVALID_ARGUMENT, and the connection keeps serving", async () => {
    const hostile = failure(client.queryPage({ types: [HUGE as "like.added"] }, { deadline: 60_000 }));
    const types = await client.listEventTypes({ deadline: 60_000 });
    assert.ok(types.length > 0);
    const err = await hostile;
    assert.equal(err.code, status.INVALID_ARGUMENT, err.message);
    assert.ok(trailerBytes(err) < MAX_TRAILER_BYTES, `status takes ${trailerBytes(err)} bytes`);
    assert.ok(err.message.includes("…[+"), `the echoed value carries no cut marker: ${err.message}`);
    // A second one on the same connection (an id that is no UUID), then a normal call: nothing
    // waits behind them.
    const again = await failure(client.getEvent(HUGE, { deadline: 60_000 }));
    assert.equal(again.code, status.INVALID_ARGUMENT, again.message);
    assert.ok(trailerBytes(again) < MAX_TRAILER_BYTES);
    assert.equal((await client.countEvents({}, { deadline: 60_000 })) >= 0, true);
  });

  it("caps a list of 5,000 violations and counts the rest", async () => {
    const event = sampleEvent("like.added");
    event.metadata = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`bad key ${i} ${"k".repeat(100)}`, "v"]));
    const body = toBinary(PublishRequestSchema, create(PublishRequestSchema, { event }));
    const res = await raw.unary("/qingyu.broker.v1.EventBrokerService/Publish", body);
    assert.equal(res.code, status.INVALID_ARGUMENT, res.details);
    assert.equal(res.reason, "ERROR_REASON_INVALID_EVENT");
    assert.ok(res.info["omitted_violations"] !== undefined && Number(res.info["omitted_violations"]) > 4_900, JSON.stringify(res.info));
    assert.ok(res.trailerBytes < MAX_TRAILER_BYTES, `status takes ${res.trailerBytes} bytes`);
    const health = await raw.unary("/grpc.health.v1.Health/Check", new Uint8Array());
    assert.equal(health.code, status.OK);
  });

  it("logs each failed call in a short line", async () => {
    // The broker's log arrives over a pipe: the last failure's line may still be on its way.
    const failedLines = () => broker.logs.filter((l) => l["msg"] === "call failed").length;
    for (let i = 0; i < 100 && failedLines() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(failedLines() >= 3, `only ${failedLines()} failed calls logged`);
    const lines = broker.logs.map((l) => JSON.stringify(l));
    const longest = Math.max(...lines.map((l) => l.length));
    console.log(`longest log line: ${longest} bytes`);
    assert.ok(longest < 8 << 10, `a log line of ${longest} bytes`);
  });
});
