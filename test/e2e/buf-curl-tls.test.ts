// The README's buf curl examples against a TLS broker with the example policy: --cacert, a bearer
// token in -H, reflection and health open without one. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { makeCa, serverCert, type TestCa } from "../helpers/certs.js";
import { demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";

const run = promisify(execFile);
const BUF = new URL("../../node_modules/.bin/buf", import.meta.url).pathname;

describe("buf curl over TLS with a token", () => {
  let ca: TestCa;
  let t: TestBroker;
  const dir = mkdtempSync(join(tmpdir(), "policy-"));
  const policy = join(dir, "policy.yaml");
  before(async () => {
    ca = makeCa();
    const server = serverCert(ca);
    writeFileSync(policy, readFileSync(EXAMPLE_POLICY));
    t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_AUTH_FILE: policy });
  });
  after(async () => {
    await t.close();
    ca[Symbol.dispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  const curl = async (args: string[]) => {
    try {
      const { stdout } = await run(BUF, ["curl", "--protocol", "grpc", "--cacert", ca.cert, ...args], { timeout: 30_000 });
      return { code: 0, stdout, stderr: "" };
    } catch (err) {
      return err as { code: number; stdout: string; stderr: string };
    }
  };
  const U = () => `https://127.0.0.1:${t.port}`;
  const S = () => `${U()}/qingyu.broker.v1.EventBrokerService`;

  it("lists services through reflection without a token", async () => {
    const r = await curl(["--list-services", U()]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /qingyu\.broker\.v1\.EventBrokerService/);
  });

  it("calls with a bearer token, and is refused without one", async () => {
    const ok = await curl(["-H", `authorization: Bearer ${demoToken("analytics")}`, "-d", '{"filter":{"domains":["social"]}}', `${S()}/CountEvents`]);
    assert.equal(ok.code, 0, ok.stderr);
    const refused = await curl(["-d", '{"filter":{"domains":["social"]}}', `${S()}/CountEvents`]);
    assert.match(refused.stderr, /unauthenticated/i);
  });

  it("closes reflection when the policy says so, to callers without credentials", async () => {
    writeFileSync(policy, readFileSync(EXAMPLE_POLICY, "utf8").replace("reflection: true", "reflection: false"));
    t.broker.reload();
    const refused = await curl(["--list-services", U()]);
    assert.notEqual(refused.code, 0);
    // buf reports a reflection refused with UNAUTHENTICATED in its own words ("you are not authenticated").
    assert.match(refused.stderr, /not authenticated|unauthenticated/i);
    const ok = await curl(["--reflect-header", `authorization: Bearer ${demoToken("analytics")}`, "--list-services", U()]);
    assert.equal(ok.code, 0, ok.stderr);
  });
});
