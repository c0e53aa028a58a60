// grpcurl-style access through server reflection, with the real `buf curl` client.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { newEventId } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const run = promisify(execFile);
const BUF = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

async function curl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(BUF, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], { timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** buf curl prints a server stream as consecutive JSON documents. */
function jsonDocuments(text: string): Record<string, unknown>[] {
  const docs: Record<string, unknown>[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === "{" && depth++ === 0) start = i;
    else if (c === "}" && --depth === 0) docs.push(JSON.parse(text.slice(start, i + 1)) as Record<string, unknown>);
  }
  return docs;
}

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

  // https://github.com/qingyu/event-broker/issues/12 (4): each detail decodes with the repository's schema, as README shows.
  it("gives error details that decode with buf convert to the typed detail", async () => {
    const res = await curl(["-d", '{"event":{"id":"x","type":"like.added","source":"s","likeAdded":{}}}', `${url}/qingyu.broker.v1.EventBrokerService/Publish`]);
    const status = JSON.parse(res.stderr) as { details: { type: string; value: string }[] };
    const bad = status.details.find((d) => d.type === "qingyu.broker.v1.BadRequest");
    const bytes = Buffer.from(bad?.value ?? "", "base64");
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile(BUF, ["convert", "proto", "--type", "qingyu.broker.v1.BadRequest", "--from", "-#format=binpb"], { cwd: ROOT }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      child.stdin?.end(bytes);
    });
    const decoded = JSON.parse(out) as { fieldViolations: { field: string; rule: string }[] };
    assert.ok(decoded.fieldViolations.some((v) => v.field === "event.id" && v.rule === "format"));
  });

  // https://github.com/qingyu/event-broker/issues/12 (5): the README's ConsumerGroupService examples.
  it("creates, reads, joins and deletes a consumer group as README shows", async () => {
    const G = `${url}/qingyu.broker.v1.ConsumerGroupService`;
    const created = await curl(["-d", '{"group":{"name":"curl-likes","filter":{"types":["like.*"]},"start":{"fromBeginning":true},"ackDeadline":"30s"}}', `${G}/CreateGroup`]);
    assert.equal(created.code, 0, created.stderr);
    const got = await curl(["-d", '{"name":"curl-likes"}', `${G}/GetGroup`]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal((JSON.parse(got.stdout) as { group: { name: string } }).group.name, "curl-likes");
    // With the request side closed after the join, the member leaves: the stream ends cleanly.
    const consume = await curl(["--timeout", "10s", "-d", '{"join":{"group":"curl-likes","maxInFlight":10}}', `${G}/Consume`]);
    assert.equal(consume.code, 0, consume.stderr);
    assert.ok(jsonDocuments(consume.stdout).some((d) => "joined" in d), consume.stdout);
    const letters = await curl(["-d", '{"group":"curl-likes","pageSize":50}', `${G}/ListDeadLetters`]);
    assert.equal(letters.code, 0, letters.stderr);
    const redrive = await curl(["-d", '{"group":"curl-likes","select":{"all":true}}', `${G}/RedriveDeadLetters`]);
    assert.equal(redrive.code, 0, redrive.stderr);
    const deleted = await curl(["-d", '{"name":"curl-likes"}', `${G}/DeleteGroup`]);
    assert.equal(deleted.code, 0, deleted.stderr);
  });
});
