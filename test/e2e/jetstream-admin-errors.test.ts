// https://github.com/qingyu/broker/issues/10 item 3: JetStream admin errors are what they are. A
// broker whose NATS user may not call some JetStream API (a permissions violation, which nats.js
// reports as no answer, like a timeout) never takes that for "not found": it does not create the
// stream or recreate a consumer, does not count a consumer as deleted, logs the error as itself, and
// shows consumer groups NOT_SERVING in health until JetStream answers again.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from "@nats-io/jetstream";
import { HealthCheckRequestSchema, HealthCheckResponseSchema, HealthCheckResponse_ServingStatus as Serving } from "../../sdk/src/gen/grpc/health/v1/health_pb.js";
import { BrokerError, Code, ErrorReason } from "../../sdk/src/index.js";
import { ConfigError } from "../../server/src/config.js";
import { durableLogNames } from "../../server/src/log/jetstream-log.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { RawClient } from "../helpers/raw-client.js";

const GROUPS = "qingyu.broker.v1.ConsumerGroupService";
const BROKER = "qingyu.broker.v1.EventBrokerService";

/** Users: `admin` may do anything; `limited` may not call the JetStream APIs in `denied`. */
function natsConfig(denied: readonly string[]): string {
  const deny = denied.map((s) => JSON.stringify(s)).join(", ");
  return `authorization { users = [
  { user: admin, password: admin-secret }
  { user: limited, password: limited-secret, permissions: { publish: { allow: [">"], deny: [${deny}] }, subscribe: { allow: [">"] } } }
] }
`;
}

const as = (user: "admin" | "limited", nats: NatsServer) => ({
  BROKER_NATS_URL: nats.url,
  BROKER_NATS_USER: user,
  BROKER_NATS_PASSWORD: `${user}-secret`,
  BROKER_GROUP_BACKEND: "jetstream",
});

async function healthOf(t: TestBroker, service: string): Promise<Serving> {
  const raw = new RawClient(t.address);
  try {
    const res = await raw.unary("/grpc.health.v1.Health/Check", toBinary(HealthCheckRequestSchema, create(HealthCheckRequestSchema, { service })));
    return fromBinary(HealthCheckResponseSchema, res.responses[0] ?? new Uint8Array()).status;
  } finally {
    raw.close();
  }
}

const unavailable = (err: unknown) => err instanceof BrokerError && err.code === Code.UNAVAILABLE && err.reason === ErrorReason.STORE_UNAVAILABLE;
const logged = (t: TestBroker, msg: string) => t.logs.lines.filter((l) => l["msg"] === msg);
const errText = (line: Record<string, unknown> | undefined) => String((line?.["err"] as { message?: string } | undefined)?.message ?? "");

describe("JetStream admin errors at start-up", () => {
  let nats: NatsServer;
  before(async () => void (nats = await startNatsServer({ config: natsConfig(["$JS.API.STREAM.INFO.>"]) })));
  after(() => nats[Symbol.asyncDispose]());

  it("fails start-up with the permissions violation and creates no stream when the stream's info is refused", async () => {
    // A broker that did start (taking the refusal for "no stream") is closed, not left running.
    const failure = await startTestBroker({ ...as("limited", nats), BROKER_SUBJECT_PREFIX: "perm" }).then(
      (t) => t.close().then(() => undefined),
      (err: unknown) => err,
    );
    assert.ok(failure instanceof ConfigError, `start-up did not fail: ${String(failure)}`);
    assert.match(failure.message, /BROKER_GROUP_BACKEND/);
    assert.match(failure.message, /permissions violation/i);
    const nc = await connect({ servers: nats.url, user: "admin", pass: "admin-secret" });
    try {
      const jsm = await jetstreamManager(nc);
      await assert.rejects(jsm.streams.info(durableLogNames("perm").stream), (err: unknown) => err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound);
    } finally {
      await nc.close();
    }
  });
});

describe("JetStream admin errors of consumer groups", () => {
  let nats: NatsServer;
  let a: TestBroker;
  let b: TestBroker;
  let admin: NatsConnection;
  before(async () => {
    nats = await startNatsServer({ config: natsConfig(["$JS.API.CONSUMER.INFO.>", "$JS.API.CONSUMER.DELETE.>"]) });
    // A creates the group with every right; B, on the same store and NATS, may not read or delete consumers.
    a = await startTestBroker(as("admin", nats));
    b = await startTestBroker(as("limited", nats), a.dataDir);
    admin = await connect({ servers: nats.url, user: "admin", pass: "admin-secret" });
  });
  after(async () => {
    await admin.close();
    await b.close({ keepData: true });
    await a.close();
    await nats[Symbol.asyncDispose]();
  });

  it("does not recreate a consumer it may not read: the call fails UNAVAILABLE, the error is logged as itself and groups are NOT_SERVING", async () => {
    await a.client.groups.create({ name: "g", filter: { sources: ["perm-svc"] } });
    const consumer = `grp_g`;
    const jsm = await jetstreamManager(admin);
    const before = await jsm.consumers.info(durableLogNames("events").stream, consumer);

    assert.equal(await healthOf(b, GROUPS), Serving.SERVING);
    await assert.rejects(b.client.groups.get("g"), unavailable);

    assert.deepEqual(logged(b, "JetStream consumer missing; recreating it"), []);
    const failed = logged(b, "JetStream did not answer an admin call of a consumer group");
    assert.ok(failed.length > 0, "the failure is logged");
    assert.match(errText(failed[0]), /permissions violation/i);
    assert.equal(failed[0]?.["level"], 50, "logged at error");
    // The consumer is the one A made, not a new one.
    const after = await jsm.consumers.info(durableLogNames("events").stream, consumer);
    assert.equal(after.created, before.created);

    assert.equal(await healthOf(b, GROUPS), Serving.NOT_SERVING);
    assert.equal(await healthOf(b, BROKER), Serving.SERVING, "publishing and reading do not depend on it");
    assert.equal(await healthOf(b, ""), Serving.SERVING);
    assert.equal(await healthOf(a, GROUPS), Serving.SERVING);
  });

  it("does not take a consumer it may not delete for deleted: DeleteGroup fails UNAVAILABLE and the group stays", async () => {
    await a.client.groups.create({ name: "keep", filter: { sources: ["perm-svc"] } });
    await assert.rejects(b.client.groups.delete("keep"), unavailable);
    const failed = logged(b, "JetStream did not answer an admin call of a consumer group").filter((l) => l["group"] === "keep");
    assert.equal(failed[0]?.["op"], "consumer delete");
    assert.match(errText(failed[0]), /permissions violation/i);
    assert.equal((await a.client.groups.get("keep")).group.name, "keep");
    await jetstreamManager(admin).then((jsm) => jsm.consumers.info(durableLogNames("events").stream, "grp_keep"));
  });

  it("shows groups SERVING again once JetStream answers: the permission given back and the configuration reloaded", async () => {
    assert.equal(await healthOf(b, GROUPS), Serving.NOT_SERVING);
    nats.reconfigure(natsConfig([]));
    const deadline = Date.now() + 30_000;
    while ((await healthOf(b, GROUPS)) !== Serving.SERVING) {
      if (Date.now() > deadline) assert.fail("groups still NOT_SERVING after the permission came back");
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal((await b.client.groups.get("g")).group.name, "g");
  });
});
