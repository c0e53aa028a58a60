// The CLI against a broker with mutual TLS and the example policy: --ca/--cert/--key, --token and
// BROKER_TOKEN, and the token command. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { makeCa, serverCert, type Issued, type TestCa } from "../helpers/certs.js";
import { demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";

const run = promisify(execFile);
const CLI = new URL("../../sdk/bin/qingyu-events.mjs", import.meta.url).pathname;

describe("qingyu-events CLI with TLS and tokens", () => {
  let ca: TestCa;
  let t: TestBroker;
  let anonymousCert: Issued;
  let opsCert: Issued;

  before(async () => {
    ca = makeCa();
    const server = serverCert(ca);
    anonymousCert = ca.issue("cli", "cli.qingyu.internal");
    opsCert = ca.issue("ops", "ops.qingyu.internal");
    t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_TLS_CLIENT_CA: ca.cert, BROKER_AUTH_FILE: EXAMPLE_POLICY });
  });
  after(async () => {
    await t.close();
    ca[Symbol.dispose]();
  });

  const cli = (args: string[], cert: Issued, env: Record<string, string> = {}) =>
    run(process.execPath, [CLI, "--address", t.address, "--ca", ca.cert, "--cert", cert.cert, "--key", cert.key, ...args], { timeout: 20_000, env: { ...process.env, ...env } });

  it("authenticates with --token or BROKER_TOKEN over mutual TLS", async () => {
    assert.equal((await cli(["count", "finance.*", "--token", demoToken("finance-svc")], anonymousCert)).stdout.trim(), "0");
    assert.equal((await cli(["count", "social.*"], anonymousCert, { BROKER_TOKEN: demoToken("analytics") })).stdout.trim(), "0");
  });

  it("authenticates with the client certificate alone", async () => {
    assert.equal((await cli(["count", "*"], opsCert)).stdout.trim(), "0");
  });

  it("fails with the broker's status when the caller has no principal or no right", async () => {
    await assert.rejects(cli(["count", "*"], anonymousCert), (e: { code: number; stderr: string }) => e.code === 1 && /UNAUTHENTICATED/.test(e.stderr));
    await assert.rejects(cli(["count", "finance.*", "--token", demoToken("analytics")], anonymousCert), (e: { code: number; stderr: string }) => e.code === 1 && /PERMISSION_DENIED/.test(e.stderr));
  });

  it("makes a token and the hash the policy file takes", async () => {
    const { stdout } = await run(process.execPath, [CLI, "token"]);
    const token = /^token: (\S+)$/m.exec(stdout)?.[1] ?? "";
    assert.ok(token.length >= 40);
    assert.match(stdout, new RegExp(`^hash:  sha256:${createHash("sha256").update(token).digest("hex")}$`, "m"));
  });
});
