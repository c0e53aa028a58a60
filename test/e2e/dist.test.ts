// The compiled broker (`npm run build`, what the Docker image and `npm run start:dist` run) starts,
// serves, runs its SQLite workers from compiled JavaScript, serves the web console's built bundle
// and drains on SIGTERM.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { createBrokerClient, newEvent, TargetType } from "../../sdk/src/index.js";
import { DIST_MAIN, spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { RawClient } from "../helpers/raw-client.js";

const ROOT = new URL("../../", import.meta.url).pathname;

describe("compiled broker (dist/)", () => {
  let dataDir: string;
  let broker: BrokerProcess;
  before(async () => {
    execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });
    assert.ok(existsSync(DIST_MAIN), `${DIST_MAIN} was not built`);
    dataDir = mkdtempSync(join(tmpdir(), "broker-dist-"));
    broker = await spawnBroker({ BROKER_DATA_DIR: dataDir, BROKER_HTTP_PORT: "0" }, 20_000, [], DIST_MAIN);
  });
  after(() => rmSync(dataDir, { recursive: true, force: true }));

  it("serves health, publishes and reads back, then drains on SIGTERM", async () => {
    const raw = new RawClient(broker.address);
    const health = await raw.unary("/grpc.health.v1.Health/Check", toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, {})));
    raw.close();
    assert.equal(fromBinary(HealthCheckResponseSchema, health.responses[0] ?? new Uint8Array()).status, HealthCheckResponse_ServingStatus.SERVING);

    const client = createBrokerClient({ address: broker.address });
    const e = newEvent("like.added", { userId: "u-dist", targetType: TargetType.BOOK, targetId: "b1" }, { source: "dist-test" });
    const ack = await client.publish(e);
    assert.equal((await client.getEvent(e.id)).id, e.id);
    assert.equal(await client.countEvents({ sources: ["dist-test"] }), 1);
    assert.notEqual(ack.position, "");
    client.close();

    // The web console, from the bundle `npm run build` wrote to dist/console (no esbuild at run time).
    const httpPort = broker.logs.find((l) => l["msg"] === "broker started")?.["httpPort"] as number;
    const index = await fetch(`http://127.0.0.1:${httpPort}/`);
    assert.equal(index.status, 200);
    assert.match(await index.text(), /console\.js/);
    const script = await fetch(`http://127.0.0.1:${httpPort}/console.js`);
    assert.equal(script.status, 200);
    assert.match(script.headers.get("content-type") ?? "", /javascript/);
    assert.ok((await script.arrayBuffer()).byteLength > 10_000);

    const { code } = await broker.stop("SIGTERM");
    assert.equal(code, 0);
    assert.ok(broker.logs.some((l) => l["msg"] === "broker stopped" && l["graceful"] === true));
  });
});
