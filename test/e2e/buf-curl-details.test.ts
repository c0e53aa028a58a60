// https://github.com/qingyu/event-broker/issues/12 (4, 5): error details decode with the repository's
// schema, and README's ConsumerGroupService examples work, with the real `buf curl`. Its own file:
// every buf run starts a 90 MB binary, which takes seconds on a busy machine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { file_qingyu_broker_v1_errors } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { BUF, curl, jsonDocuments } from "../helpers/buf-curl.js";

const ROOT = new URL("../..", import.meta.url).pathname;

describe("buf curl: error details and consumer groups", () => {
  let t: TestBroker;
  let url: string;
  before(async () => {
    t = await startTestBroker();
    url = `http://${t.address}`;
  });
  after(() => t.close());

  // Each detail decodes with the repository's schema, as README shows.
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

  // grpcurl prints an error's details as JSON by resolving their types through reflection; buf curl
  // does not (its error printer knows only the types compiled into it). Each detail type an error
  // carries must therefore be served by reflection, with its file.
  it("serves every error detail type through reflection, for tools that decode details with it", async () => {
    const reflection = `${url}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo`;
    const schema = new URL("../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto", import.meta.url).pathname;
    const res = await curl(["--schema", schema, "-d", '{"fileContainingSymbol":"qingyu.broker.v1.BadRequest"}', reflection]);
    assert.equal(res.code, 0, res.stderr);
    const [answer] = jsonDocuments(res.stdout) as { fileDescriptorResponse?: { fileDescriptorProto: string[] } }[];
    const files = (answer?.fileDescriptorResponse?.fileDescriptorProto ?? []).map((b) => fromBinary(FileDescriptorProtoSchema, Buffer.from(b, "base64")));
    const errors = files.find((f) => f.name === "qingyu/broker/v1/errors.proto");
    assert.ok(errors, `reflection answered ${files.map((f) => f.name).join(", ")}`);
    const served = errors.messageType.map((m) => `qingyu.broker.v1.${m.name}`);
    for (const detail of file_qingyu_broker_v1_errors.messages) assert.ok(served.includes(detail.typeName), `${detail.typeName} is not served`);
  });

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
