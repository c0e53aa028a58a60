// The broker's NATS connection over TLS with a token: BROKER_NATS_TLS_CA and BROKER_NATS_TOKEN
// against a nats-server that requires both. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { startTestBroker } from "../helpers/broker.js";
import { makeCa, serverCert, type TestCa } from "../helpers/certs.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

describe("NATS connection with TLS and a token", () => {
  let ca: TestCa;
  let nats: NatsServer;

  before(async () => {
    ca = makeCa();
    const server = serverCert(ca, "nats");
    nats = await startNatsServer({ config: `tls { cert_file: "${server.cert}", key_file: "${server.key}" }\nauthorization { token: "nats-secret" }\n` });
  });
  after(async () => {
    await nats[Symbol.asyncDispose]();
    ca[Symbol.dispose]();
  });

  it("connects with the CA and the token", async () => {
    await using t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_TLS_CA: ca.cert, BROKER_NATS_TOKEN: "nats-secret" });
    assert.ok(t.logs.lines.some((l) => l["msg"] === "broker started" && l["bus"] === "nats"));
  });

  it("refuses to start without the token, or without trusting the server's certificate", async () => {
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_TLS_CA: ca.cert }));
    using other = makeCa("other-ca");
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_TLS_CA: other.cert, BROKER_NATS_TOKEN: "nats-secret" }));
  });
});
