// The broker's NATS connection with each kind of credential a nats-server can require: TLS with
// a token, mutual TLS with a user and password, and a .creds file in operator mode. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestBroker } from "../helpers/broker.js";
import { makeCa, serverCert, type TestCa } from "../helpers/certs.js";
import { natsOperatorSetup } from "../helpers/nats-jwt.js";
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

describe("NATS connection with mutual TLS and a user/password", () => {
  let ca: TestCa;
  let nats: NatsServer;

  before(async () => {
    ca = makeCa();
    const server = serverCert(ca, "nats");
    nats = await startNatsServer({
      config: `tls { cert_file: "${server.cert}", key_file: "${server.key}", ca_file: "${ca.cert}", verify: true }\nauthorization { user: broker, password: "nats-pass" }\n`,
    });
  });
  after(async () => {
    await nats[Symbol.asyncDispose]();
    ca[Symbol.dispose]();
  });

  it("connects with a client certificate the server's CA signed and the user's password", async () => {
    const client = ca.issue("broker-client", "broker");
    await using t = await startTestBroker({
      BROKER_NATS_URL: nats.url,
      BROKER_NATS_TLS_CA: ca.cert,
      BROKER_NATS_TLS_CERT: client.cert,
      BROKER_NATS_TLS_KEY: client.key,
      BROKER_NATS_USER: "broker",
      BROKER_NATS_PASSWORD: "nats-pass",
    });
    assert.ok(t.logs.lines.some((l) => l["msg"] === "broker started" && l["bus"] === "nats"));
  });

  it("refuses to start without a client certificate, or with a wrong password", async () => {
    // The server ends the TLS handshake; nats.js reports it as a connection timeout.
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_TLS_CA: ca.cert, BROKER_NATS_USER: "broker", BROKER_NATS_PASSWORD: "nats-pass" }), /cannot connect to NATS/);
    const client = ca.issue("broker-client2", "broker");
    await assert.rejects(
      startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_TLS_CA: ca.cert, BROKER_NATS_TLS_CERT: client.cert, BROKER_NATS_TLS_KEY: client.key, BROKER_NATS_USER: "broker", BROKER_NATS_PASSWORD: "wrong" }),
      /Authorization Violation/,
    );
  });
});

describe("NATS connection with a .creds file (operator mode, as nsc sets it up)", () => {
  let nats: NatsServer;
  let dir: string;
  let creds: string;

  before(async () => {
    const setup = natsOperatorSetup();
    dir = mkdtempSync(join(tmpdir(), "nats-creds-"));
    creds = join(dir, "broker.creds");
    writeFileSync(creds, setup.creds, { mode: 0o600 });
    nats = await startNatsServer({ config: setup.config });
  });
  after(async () => {
    await nats[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  it("connects with BROKER_NATS_CREDS and fans events out over the account", async () => {
    await using t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_CREDS: creds });
    assert.ok(t.logs.lines.some((l) => l["msg"] === "broker started" && l["bus"] === "nats"));
  });

  it("refuses to start without credentials, or with another operator's", async () => {
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url }), /Authorization Violation/);
    const foreign = join(dir, "foreign.creds");
    writeFileSync(foreign, natsOperatorSetup().creds, { mode: 0o600 });
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_CREDS: foreign }), /Authorization Violation/);
  });
});
