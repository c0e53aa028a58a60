// The broker process: safe defaults at start-up, a policy file that cannot be used, and SIGHUP
// re-reading the policy. Issue 14.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runBrokerExpectingFailure, spawnBroker } from "../helpers/broker-process.js";
import { EXAMPLE_POLICY } from "../helpers/auth.js";

describe("broker process security", () => {
  const dir = mkdtempSync(join(tmpdir(), "broker-auth-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("refuses to serve a non-loopback address without TLS and a policy", async () => {
    const r = await runBrokerExpectingFailure({ BROKER_HOST: "0.0.0.0", BROKER_DATA_DIR: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /BROKER_HOST '0\.0\.0\.0' is not a loopback address: set BROKER_TLS_CERT and BROKER_TLS_KEY and BROKER_AUTH_FILE/);
  });

  it("refuses to start with a policy that does not validate, naming the place", async () => {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "principals:\n  svc:\n    read: { domains: [finanse] }\n");
    const r = await runBrokerExpectingFailure({ BROKER_AUTH_FILE: bad, BROKER_DATA_DIR: dir, BROKER_GRPC_PORT: "0" });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /principals\.svc\.read\.domains\[0\]: 'finanse' is not a domain/);
  });

  it("re-reads the policy on SIGHUP", async () => {
    const policy = join(dir, "policy.yaml");
    copyFileSync(EXAMPLE_POLICY, policy);
    const b = await spawnBroker({ BROKER_AUTH_FILE: policy, BROKER_DATA_DIR: join(dir, "data") }, 60_000);
    try {
      b.proc.kill("SIGHUP");
      while (!b.logs.some((l) => l["msg"] === "access policy reloaded")) await new Promise((r) => setTimeout(r, 20));
      assert.equal(b.logs.find((l) => l["msg"] === "access policy reloaded")?.["principals"], 5);
    } finally {
      assert.equal((await b.stop()).code, 0);
    }
  });
});
