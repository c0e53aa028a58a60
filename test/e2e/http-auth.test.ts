// The HTTP port behind the same door as the gRPC port (issue 16, 1): bearer tokens from the
// Authorization header and client certificates from TLS go through the one policy gate, and a
// refusal reads the same (code, message, reason, MissingRight) on both ports.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EventBrokerService } from "../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { ErrorInfoSchema, MissingRightSchema } from "../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { BrokerError } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";
import { copyFileSync } from "node:fs";
import { makeCa, serverCert, type Issued, type TestCa } from "../helpers/certs.js";
import { postJson } from "../helpers/http.js";
import { sampleEvent } from "../helpers/sample-events.js";

const bearer =
  (token: string): Interceptor =>
  (next) =>
  (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };

async function failure(p: Promise<unknown>): Promise<ConnectError> {
  return p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => ConnectError.from(e),
  );
}

/** The message the gRPC port sent, without the SDK's `[CODE] ` prefix. */
async function grpcMessage(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => assert.fail("expected a failure"),
    (e: unknown) => BrokerError.from(e),
  );
  return err.message.replace(/^\[[A-Z_]+\] /, "");
}

describe("HTTP port under an access policy", () => {
  let t: TestBroker;
  let base: string;

  before(async () => {
    t = await startTestBroker({ BROKER_AUTH_FILE: EXAMPLE_POLICY, BROKER_HTTP_PORT: "0" });
    base = `http://127.0.0.1:${t.broker.httpPort}`;
  });
  after(() => t.close());

  it("answers a call without credentials UNAUTHENTICATED, as the gRPC port does", async () => {
    const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/QueryEvents`, {});
    assert.equal(res.status, 401);
    const body = res.body as { code: string; message: string; details: { debug: { reason: string } }[] };
    assert.equal(body.code, "unauthenticated");
    assert.equal(body.details[0]?.debug.reason, "ERROR_REASON_UNAUTHENTICATED");
    assert.equal(body.message, await grpcMessage(t.newClient().queryPage({})));
  });

  it("refuses a malformed authorization header and an unknown token", async () => {
    for (const authorization of ["Basic dXNlcjpwdw==", "Bearer not-a-known-token"]) {
      const res = await postJson(`${base}/qingyu.broker.v1.EventBrokerService/CountEvents`, {}, { authorization });
      assert.equal(res.status, 401, authorization);
    }
  });

  it("takes a bearer token: its principal's reads are allowed, others PERMISSION_DENIED naming the right, on Connect and gRPC-web", async () => {
    await t.newClient({ credentials: demoToken("social-svc") }).publish({ ...sampleEvent("like.added"), source: "social-svc" });
    const social = createClient(EventBrokerService, createConnectTransport({ baseUrl: base, httpVersion: "1.1", interceptors: [bearer(demoToken("social-svc"))] }));
    assert.equal((await social.countEvents({ filter: { types: ["like.added"] } })).count, 1n);
    const bookstore = createClient(EventBrokerService, createGrpcWebTransport({ baseUrl: base, httpVersion: "1.1", interceptors: [bearer(demoToken("bookstore-svc"))] }));
    const err = await failure(bookstore.countEvents({ filter: { types: ["like.added"] } }));
    assert.equal(err.code, Code.PermissionDenied);
    assert.equal(err.findDetails(ErrorInfoSchema)[0]?.reason, "ERROR_REASON_PERMISSION_DENIED");
    assert.deepEqual(
      err.findDetails(MissingRightSchema).map((d) => [d.right, d.resource]),
      [["read", "like.added"]],
    );
    assert.equal(err.rawMessage, await grpcMessage(t.newClient({ credentials: demoToken("bookstore-svc") }).countEvents({ types: ["like.added"] })));
  });

  it("keeps health open without credentials, as the policy says", async () => {
    const res = await postJson(`${base}/grpc.health.v1.Health/Check`, {});
    assert.deepEqual(res.body, { status: "SERVING" });
  });
});

describe("HTTP port with mutual TLS", () => {
  let ca: TestCa;
  let t: TestBroker;
  let base: string;
  let server: Issued;

  before(async () => {
    ca = makeCa();
    server = serverCert(ca);
    t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_TLS_CLIENT_CA: ca.cert, BROKER_AUTH_FILE: EXAMPLE_POLICY, BROKER_HTTP_PORT: "0" });
    base = `https://127.0.0.1:${t.broker.httpPort}`;
  });
  after(async () => {
    await t.close();
    ca[Symbol.dispose]();
  });

  it("authenticates a client certificate's name through the policy, over HTTP/2 and HTTP/1.1", async () => {
    const social = ca.issue("social", "social-svc.qingyu.internal");
    for (const httpVersion of ["2", "1.1"] as const) {
      const transport = createConnectTransport({ baseUrl: base, httpVersion, nodeOptions: { ca: ca.certPem, cert: social.certPem, key: social.keyPem } });
      const client = createClient(EventBrokerService, transport);
      const res = await client.publish({ event: { ...sampleEvent("like.added"), source: "social-svc" } });
      assert.ok(res.position !== "", httpVersion);
      const err = await failure(client.countEvents({ filter: { types: ["book.purchased"] } }));
      assert.equal(err.code, Code.PermissionDenied, httpVersion);
    }
  });

  it("refuses a TLS handshake without a client certificate", async () => {
    const client = createClient(EventBrokerService, createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: { ca: ca.certPem } }));
    const err = await failure(client.countEvents({}));
    assert.notEqual(err.code, Code.PermissionDenied);
    assert.notEqual(err.code, Code.Unauthenticated);
  });

  it("takes new server certificates on reload (SIGHUP), as the gRPC port does", async () => {
    const social = ca.issue("social-reload", "social-svc.qingyu.internal");
    using next = makeCa("next-ca");
    const renewed = serverCert(next, "broker-renewed");
    copyFileSync(renewed.cert, server.cert);
    copyFileSync(renewed.key, server.key);
    t.broker.reload();
    const call = (trusted: Buffer) =>
      createClient(EventBrokerService, createConnectTransport({ baseUrl: base, httpVersion: "1.1", nodeOptions: { ca: trusted, cert: social.certPem, key: social.keyPem } })).countEvents({ filter: { types: ["like.added"] } });
    assert.ok((await call(next.certPem)).count >= 0n);
    const old = await failure(call(ca.certPem));
    assert.notEqual(old.code, Code.PermissionDenied, "a client that trusts only the old CA no longer connects");
  });
});
