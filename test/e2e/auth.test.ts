// Provenance, read limits, audit, JWTs and policy reload on a broker with an access policy. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { BrokerError, Code, ErrorReason, MissingRightSchema, type BrokerClient } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { clientWithHeaders, demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";
import type * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import { ConsumerGroupService, CreateGroupRequestSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { grpcServiceDefinition } from "../../sdk/src/grpc/service-definition.js";

async function denied(p: Promise<unknown>, code: Code, reason: ErrorReason): Promise<BrokerError> {
  const err = await p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => BrokerError.from(e),
  );
  assert.equal(err.code, code, err.message);
  assert.equal(err.reason, reason);
  return err;
}

describe("access policy: provenance, reads, audit", () => {
  let t: TestBroker;
  let bookstore: BrokerClient;
  let analytics: BrokerClient;
  let operator: BrokerClient;

  before(async () => {
    t = await startTestBroker({ BROKER_AUTH_FILE: EXAMPLE_POLICY, BROKER_METRICS_PORT: "0" });
    bookstore = t.newClient({ credentials: demoToken("bookstore-svc") });
    analytics = t.newClient({ credentials: demoToken("analytics") });
    operator = t.newClient({ credentials: () => demoToken("operator") });
  });
  after(() => t.close());

  it("refuses a bookstore-svc token claiming finance-svc as source, naming the source", async () => {
    const err = await denied(bookstore.publish({ ...sampleEvent("book.purchased"), source: "finance-svc" }), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    assert.deepEqual(err.findDetails(MissingRightSchema).map((d) => [d.right, d.resource]), [["source", "finance-svc"]]);
  });

  it("refuses a bookstore-svc token publishing withdrawal.approved even with its own source", async () => {
    const err = await denied(bookstore.publish({ ...sampleEvent("withdrawal.approved"), source: "bookstore-svc" }), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    assert.deepEqual(err.findDetails(MissingRightSchema).map((d) => [d.right, d.resource]), [["publish", "withdrawal.approved"]]);
  });

  it("refuses a whole batch when one event is out of rights, naming its index", async () => {
    const ok = { ...sampleEvent("book.purchased"), source: "bookstore-svc" };
    const err = await denied(bookstore.publishBatch([ok, { ...sampleEvent("withdrawal.approved"), source: "bookstore-svc" }]), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    assert.equal(err.metadata["index"], "1");
    assert.equal(await operator.countEvents({ types: ["book.purchased"] }), 0);
  });

  it("refuses one event of a PublishStream in its acknowledgement, and the stream goes on", async () => {
    const publisher = bookstore.publisher();
    try {
      const before = { ...sampleEvent("book.purchased"), source: "bookstore-svc" };
      const spoofed = { ...sampleEvent("book.purchased"), source: "finance-svc" };
      const forbidden = { ...sampleEvent("withdrawal.approved"), source: "bookstore-svc" };
      const after = { ...sampleEvent("book.purchased"), source: "bookstore-svc" };
      const acks = [before, spoofed, forbidden, after].map((e) => publisher.publish(e));
      assert.equal((await acks[0])?.duplicate, false);
      const bySource = await denied(acks[1] as Promise<unknown>, Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
      assert.deepEqual(bySource.findDetails(MissingRightSchema).map((d) => [d.right, d.resource]), [["source", "finance-svc"]]);
      const byType = await denied(acks[2] as Promise<unknown>, Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
      assert.deepEqual(byType.findDetails(MissingRightSchema).map((d) => [d.right, d.resource]), [["publish", "withdrawal.approved"]]);
      assert.equal((await acks[3])?.duplicate, false);
      assert.equal((await operator.getEvent(before.id)).id, before.id);
      assert.equal((await operator.getEvent(after.id)).id, after.id);
      await assert.rejects(operator.getEvent(spoofed.id), (e: unknown) => BrokerError.from(e).code === Code.NOT_FOUND);
    } finally {
      await publisher.close();
    }
  });

  it("refuses a filter reaching beyond the principal's reads instead of narrowing it", async () => {
    const err = await denied(analytics.countEvents({ domains: ["social", "finance"] }), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    assert.equal(err.findDetails(MissingRightSchema)[0]?.right, "read");
    // No filter means every type: more than analytics may read.
    await denied(analytics.queryPage({}), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    assert.equal(await analytics.countEvents({ domains: ["social"] }), 0);
  });

  it("logs admin actions with the authenticated principal, not the x-operator header", async () => {
    const spoofer = clientWithHeaders(t.address, { authorization: `Bearer ${demoToken("operator")}`, "x-operator": "mallory" });
    const d = grpcServiceDefinition(ConsumerGroupService)["createGroup"] as grpc.MethodDefinition<unknown, unknown>;
    const req = create(CreateGroupRequestSchema, { group: { name: "audit-check", filter: { domains: ["social"] } } });
    await new Promise((done, fail) => spoofer.makeUnaryRequest(d.path, d.requestSerialize, d.responseDeserialize, req, (err, res) => (spoofer.close(), err ? fail(err) : done(res))));
    const line = t.logs.lines.find((l) => l["msg"] === "consumer group created" && l["group"] === "audit-check");
    assert.equal(line?.["caller"], "operator");
  });

  it("logs every denial with its principal and counts it by principal and method", async () => {
    await denied(analytics.queryPage({ domains: ["finance"] }), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    const anonymous = t.newClient();
    await denied(anonymous.countEvents({}), Code.UNAUTHENTICATED, ErrorReason.UNAUTHENTICATED);
    const logged = t.logs.lines.filter((l) => l["msg"] === "access denied");
    assert.ok(logged.some((l) => l["principal"] === "analytics" && l["method"] === "EventBrokerService/QueryEvents" && l["resource"] !== undefined));
    assert.ok(logged.some((l) => l["principal"] === "" && l["method"] === "EventBrokerService/CountEvents" && l["right"] === "authenticate"));
    const text = await (await fetch(`http://127.0.0.1:${t.broker.metricsPort}/metrics`)).text();
    assert.match(text, /broker_auth_denials_total\{principal="analytics",method="EventBrokerService\/QueryEvents"\} [1-9]/);
    assert.match(text, /broker_auth_denials_total\{principal="\(unauthenticated\)",method="EventBrokerService\/CountEvents"\} [1-9]/);
  });

  it("answers an unknown token with UNAUTHENTICATED", async () => {
    await denied(t.newClient({ credentials: "not-a-token" }).listEventTypes(), Code.UNAUTHENTICATED, ErrorReason.UNAUTHENTICATED);
  });
});

describe("access policy: JWTs and reload", () => {
  const dir = mkdtempSync(join(tmpdir(), "policy-"));
  const policyFile = join(dir, "policy.yaml");
  const ISSUER = "https://id.qingyu.test";
  const AUDIENCE = "qingyu-broker";
  let t: TestBroker;
  let sign: (sub: string, expiresAt: number, audience?: string) => Promise<string>;
  const example = readFileSync(resolve(EXAMPLE_POLICY), "utf8");
  const jwtSection = `\njwt:\n  jwks_file: jwks.json\n  issuer: ${ISSUER}\n  audience: ${AUDIENCE}\n  clock_tolerance_seconds: 0\n`;

  before(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    writeFileSync(join(dir, "jwks.json"), JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" }] }));
    sign = (sub, expiresAt, audience = AUDIENCE) =>
      new SignJWT({}).setProtectedHeader({ alg: "ES256", kid: "k1" }).setSubject(sub).setIssuer(ISSUER).setAudience(audience).setIssuedAt().setExpirationTime(expiresAt).sign(privateKey);
    writeFileSync(policyFile, example + jwtSection);
    t = await startTestBroker({ BROKER_AUTH_FILE: policyFile });
  });
  after(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

  it("accepts a valid JWT, fetching a fresh one per call from the credentials function", async () => {
    let issued = 0;
    const c = t.newClient({ credentials: () => (issued++, sign("analytics", inAnHour())) });
    assert.equal(await c.countEvents({ domains: ["social"] }), 0);
    assert.equal(await c.countEvents({ domains: ["reading"] }), 0);
    assert.equal(issued, 2);
  });

  it("refuses an expired JWT, one for another audience, and one naming no principal", async () => {
    const expired = await sign("analytics", Math.floor(Date.now() / 1000) - 60);
    await denied(t.newClient({ credentials: expired }).listEventTypes(), Code.UNAUTHENTICATED, ErrorReason.UNAUTHENTICATED);
    const elsewhere = await sign("analytics", inAnHour(), "another-service");
    await denied(t.newClient({ credentials: elsewhere }).listEventTypes(), Code.UNAUTHENTICATED, ErrorReason.UNAUTHENTICATED);
    const stranger = await sign("mallory", inAnHour());
    await denied(t.newClient({ credentials: stranger }).listEventTypes(), Code.UNAUTHENTICATED, ErrorReason.UNAUTHENTICATED);
  });

  it("applies a changed policy on reload, and keeps the old one when the new file is invalid", async () => {
    const analytics = t.newClient({ credentials: demoToken("analytics") });
    await denied(analytics.countEvents({ domains: ["finance"] }), Code.PERMISSION_DENIED, ErrorReason.PERMISSION_DENIED);
    writeFileSync(policyFile, example.replace("read: { domains: [social, reading, writer, bookstore] }", "read: { domains: [social, reading, writer, bookstore, finance] }") + jwtSection);
    t.broker.reload();
    assert.equal(await analytics.countEvents({ domains: ["finance"] }), 0);

    writeFileSync(policyFile, example.replace("read: { domains: [social, reading, writer, bookstore] }", "read: { domains: [finanse] }") + jwtSection);
    t.broker.reload();
    const refused = t.logs.lines.find((l) => l["msg"] === "access policy not reloaded: keeping the previous one");
    assert.match(String(refused?.["reason"]), /principals\.analytics\.read\.domains\[0\]/);
    assert.equal(await analytics.countEvents({ domains: ["finance"] }), 0);
    copyFileSync(resolve(EXAMPLE_POLICY), policyFile);
  });
});
