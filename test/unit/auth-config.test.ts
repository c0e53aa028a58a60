// Safe defaults of the broker's exposure and the validation of its TLS and NATS settings. Issue 14.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../server/src/config.js";

describe("loadConfig(): exposure", () => {
  it("starts open on a loopback address with no set-up", () => {
    for (const host of ["127.0.0.1", "localhost", "::1", "127.0.0.2"]) {
      const c = loadConfig({ BROKER_HOST: host });
      assert.equal(c.tls, undefined);
      assert.equal(c.authFile, undefined);
      assert.equal(c.insecure, false);
    }
  });

  it("refuses any other address without TLS and a policy, naming what is missing", () => {
    assert.throws(() => loadConfig({ BROKER_HOST: "0.0.0.0" }), (e: unknown) => e instanceof ConfigError && /BROKER_TLS_CERT and BROKER_TLS_KEY and BROKER_AUTH_FILE/.test(e.message));
    assert.throws(() => loadConfig({ BROKER_HOST: "10.0.0.5", BROKER_TLS_CERT: "c.pem", BROKER_TLS_KEY: "k.pem" }), /set BROKER_AUTH_FILE, or BROKER_INSECURE=true/);
    assert.throws(() => loadConfig({ BROKER_HOST: "10.0.0.5", BROKER_AUTH_FILE: "p.yaml" }), /set BROKER_TLS_CERT and BROKER_TLS_KEY, or/);
  });

  it("serves another address with TLS and a policy, or when told it is insecure", () => {
    const c = loadConfig({ BROKER_HOST: "0.0.0.0", BROKER_TLS_CERT: "c.pem", BROKER_TLS_KEY: "k.pem", BROKER_TLS_CLIENT_CA: "ca.pem", BROKER_AUTH_FILE: "p.yaml" });
    assert.deepEqual(c.tls, { cert: "c.pem", key: "k.pem", clientCa: "ca.pem" });
    assert.equal(loadConfig({ BROKER_HOST: "0.0.0.0", BROKER_INSECURE: "true" }).insecure, true);
  });

  it("rejects half a TLS or NATS setting", () => {
    assert.throws(() => loadConfig({ BROKER_TLS_CERT: "c.pem" }), /BROKER_TLS_CERT and BROKER_TLS_KEY must be given together/);
    assert.throws(() => loadConfig({ BROKER_TLS_CLIENT_CA: "ca.pem" }), /BROKER_TLS_CLIENT_CA needs/);
    assert.throws(() => loadConfig({ BROKER_NATS_USER: "broker" }), /BROKER_NATS_USER and BROKER_NATS_PASSWORD/);
    assert.throws(() => loadConfig({ BROKER_INSECURE: "yes" }), /BROKER_INSECURE must be one of true, false/);
  });

  it("reads the NATS credentials and TLS files", () => {
    const c = loadConfig({ BROKER_NATS_CREDS: "b.creds", BROKER_NATS_TLS_CA: "ca.pem", BROKER_NATS_TOKEN: "t" });
    assert.deepEqual(c.natsAuth, { credsFile: "b.creds", token: "t", tlsCa: "ca.pem" });
  });
});
