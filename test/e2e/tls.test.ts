// TLS and mutual TLS on the gRPC and metrics ports, with certificates made by openssl at test time.
// Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { get } from "node:https";
import { BrokerError, Code, ErrorReason, type BrokerClient } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { makeCa, serverCert, type Issued, type TestCa } from "../helpers/certs.js";
import { EXAMPLE_POLICY } from "../helpers/auth.js";
import { sampleEvent } from "../helpers/sample-events.js";

async function codeOf(p: Promise<unknown>): Promise<{ code: string; reason: ErrorReason }> {
  return p.then(
    () => ({ code: "OK", reason: ErrorReason.UNSPECIFIED }),
    (e: unknown) => {
      const err = BrokerError.from(e);
      return { code: Code[err.code] ?? "?", reason: err.reason };
    },
  );
}

function httpsGet(url: string, ca: Buffer, client?: Issued): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = get(url, { ca, ...(client ? { cert: client.certPem, key: client.keyPem } : {}) }, (res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
  });
}

describe("TLS", () => {
  let ca: TestCa;
  let t: TestBroker;
  let server: Issued;

  before(async () => {
    ca = makeCa();
    server = serverCert(ca);
    t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_METRICS_PORT: "0" });
  });
  after(async () => {
    await t.close();
    ca[Symbol.dispose]();
  });

  it("serves a client that verifies the broker against the CA", async () => {
    const c = t.newClient({ tls: { ca: ca.certPem } });
    assert.ok((await c.listEventTypes()).length > 0);
  });

  it("refuses a plaintext client on the TLS port", async () => {
    const plain = t.newClient({ defaultDeadlineMs: 5_000, retries: 0 });
    assert.equal((await codeOf(plain.listEventTypes())).code, "UNAVAILABLE");
  });

  it("refuses a client that does not trust the broker's certificate", async () => {
    using other = makeCa("other-ca");
    const c = t.newClient({ tls: { ca: other.certPem }, defaultDeadlineMs: 5_000 });
    assert.equal((await codeOf(c.listEventTypes())).code, "UNAVAILABLE");
  });

  it("serves /metrics over HTTPS", async () => {
    const res = await httpsGet(`https://127.0.0.1:${t.broker.metricsPort}/metrics`, ca.certPem);
    assert.equal(res.status, 200);
    assert.match(res.body, /broker_events_published_total/);
  });

  it("takes new certificates on reload without dropping open connections", async () => {
    const before = t.newClient({ tls: { ca: ca.certPem } });
    await before.listEventTypes();
    using next = makeCa("next-ca");
    const renewed = serverCert(next, "broker-renewed");
    copyFileSync(renewed.cert, server.cert);
    copyFileSync(renewed.key, server.key);
    t.broker.reload();
    assert.ok(t.logs.lines.some((l) => l["msg"] === "tls certificates reloaded"));
    // The open connection goes on with the old certificate; new ones get the renewed one.
    assert.ok((await before.listEventTypes()).length > 0);
    assert.ok((await t.newClient({ tls: { ca: next.certPem } }).listEventTypes()).length > 0);
  });
});

describe("mutual TLS with the example policy", () => {
  let ca: TestCa;
  let t: TestBroker;
  let client: (cn: string) => BrokerClient;

  before(async () => {
    ca = makeCa();
    const server = serverCert(ca);
    t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_TLS_CLIENT_CA: ca.cert, BROKER_AUTH_FILE: EXAMPLE_POLICY, BROKER_METRICS_PORT: "0" });
    client = (cn) => {
      const id = ca.issue(cn, cn, [`DNS:${cn}`]);
      return t.newClient({ tls: { ca: ca.certPem, cert: id.certPem, key: id.keyPem }, source: "finance-svc" });
    };
  });
  after(async () => {
    await t.close();
    ca[Symbol.dispose]();
  });

  it("refuses a connection without a client certificate", async () => {
    const c = t.newClient({ tls: { ca: ca.certPem }, defaultDeadlineMs: 5_000, retries: 0 });
    assert.equal((await codeOf(c.listEventTypes())).code, "UNAVAILABLE");
  });

  it("takes the principal from the certificate's name", async () => {
    const finance = client("finance-svc.qingyu.internal");
    assert.equal((await codeOf(finance.publish({ ...sampleEvent("withdrawal.approved"), source: "finance-svc" }))).code, "OK");
    const social = client("social-svc.qingyu.internal");
    assert.deepEqual(await codeOf(social.publish({ ...sampleEvent("withdrawal.approved"), source: "finance-svc" })), { code: "PERMISSION_DENIED", reason: ErrorReason.PERMISSION_DENIED });
  });

  it("answers a verified certificate that names no principal with UNAUTHENTICATED", async () => {
    assert.deepEqual(await codeOf(client("stranger.qingyu.internal").listEventTypes()), { code: "UNAUTHENTICATED", reason: ErrorReason.UNAUTHENTICATED });
  });

  it("requires a client certificate on the metrics port too", async () => {
    await assert.rejects(httpsGet(`https://127.0.0.1:${t.broker.metricsPort}/metrics`, ca.certPem));
    const ops = ca.issue("ops-metrics", "ops.qingyu.internal");
    assert.equal((await httpsGet(`https://127.0.0.1:${t.broker.metricsPort}/metrics`, ca.certPem, ops)).status, 200);
  });
});
