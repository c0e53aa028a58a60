// grpcurl-style access through server reflection, with the real `buf curl` client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newEventId } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { curl, jsonDocuments } from "../helpers/buf-curl.js";

describe("buf curl through server reflection", () => {
  let t: TestBroker;
  let url: string;
  before(async () => {
    t = await startTestBroker();
    url = `http://${t.address}`;
  });
  after(() => t.close());

  it("lists every served service and the broker's methods (reflection v1 and v1alpha)", async () => {
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const services = await curl(["--reflect-protocol", protocol, "--list-services", url]);
      assert.equal(services.code, 0, services.stderr);
      assert.deepEqual(services.stdout.trim().split("\n").sort(), ["grpc.health.v1.Health", "qingyu.broker.v1.ConsumerGroupService", "qingyu.broker.v1.EventBrokerService"]);
    }
    const methods = await curl(["--list-methods", url]);
    for (const m of ["Publish", "PublishBatch", "PublishStream", "GetEvent", "QueryEvents", "CountEvents", "Replay", "ListEventTypes"]) {
      assert.ok(methods.stdout.includes(`qingyu.broker.v1.EventBrokerService/${m}`), m);
    }
    assert.ok(methods.stdout.includes("grpc.health.v1.Health/Check"));
  });

  it("checks health", async () => {
    const res = await curl(["-d", "{}", `${url}/grpc.health.v1.Health/Check`]);
    assert.deepEqual(JSON.parse(res.stdout), { status: "SERVING" });
    const named = await curl(["-d", '{"service":"qingyu.broker.v1.EventBrokerService"}', `${url}/grpc.health.v1.Health/Check`]);
    assert.deepEqual(JSON.parse(named.stdout), { status: "SERVING" });
    const unknown = await curl(["-d", '{"service":"nope"}', `${url}/grpc.health.v1.Health/Check`]);
    assert.equal(unknown.code, 5 * 8); // buf curl exits with the gRPC code times 8: NOT_FOUND
  });

  it("publishes JSON and replays it by time range", async () => {
    const before = new Date(Date.now() - 1000).toISOString();
    const id = newEventId();
    const event = { id, type: "like.added", source: "social-svc", subject: "book/b42", likeAdded: { userId: "u1", targetType: "TARGET_TYPE_BOOK", targetId: "b42" } };
    const pub = await curl(["-d", JSON.stringify({ event }), `${url}/qingyu.broker.v1.EventBrokerService/Publish`]);
    assert.equal(pub.code, 0, pub.stderr);
    const ack = JSON.parse(pub.stdout) as { id: string; position: string };
    assert.equal(ack.id, id);
    assert.match(ack.position, /^[0-9a-f]{16}$/);

    const after = new Date(Date.now() + 1000).toISOString();
    const replay = await curl(["-d", JSON.stringify({ filter: { types: ["like.*"] }, fromTime: before, toTime: after }), `${url}/qingyu.broker.v1.EventBrokerService/Replay`]);
    assert.equal(replay.code, 0, replay.stderr);
    const docs = jsonDocuments(replay.stdout) as { event: Record<string, unknown> }[];
    assert.equal(docs.length, 1);
    assert.deepEqual({ ...docs[0]?.event, time: undefined, recordedTime: undefined }, {
      ...event,
      time: undefined,
      recordedTime: undefined,
      position: ack.position,
      dataVersion: 1,
    });
  });

  it("shows an invalid event's status and details, exiting with INVALID_ARGUMENT", async () => {
    const res = await curl(["-d", '{"event":{"id":"x","type":"like.added","source":"s","likeAdded":{}}}', `${url}/qingyu.broker.v1.EventBrokerService/Publish`]);
    assert.equal(res.code, 3 * 8);
    const status = JSON.parse(res.stderr) as { code: string; message: string; details: { type: string }[] };
    assert.equal(status.code, "invalid_argument");
    assert.match(status.message, /'event\.id'/);
    assert.deepEqual(status.details.map((d) => d.type), ["qingyu.broker.v1.ErrorInfo", "qingyu.broker.v1.BadRequest"]);
  });
});
