// https://github.com/qingyu/event-broker/issues/11 (4): a connection that never speaks stays open
// no longer than BROKER_PREFACE_TIMEOUT_MS, with TLS too. Its own file: each fault file has its
// own time budget, and a broker with certificates takes a while to start on a busy machine.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:http2";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnBroker, type BrokerProcess } from "../helpers/broker-process.js";
import { makeCa, serverCert } from "../helpers/certs.js";

// Under TLS the preface timeout starts once the handshake is done: the handshake itself gets the
// same time, or a silent socket would wait Node's default of 120 s.
describe("silent connections to a TLS port (issue 11, 4)", () => {
  let dir: string;
  let broker: BrokerProcess;
  const ca = makeCa();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "fault-silent-tls-"));
    const cert = serverCert(ca);
    broker = await spawnBroker({ BROKER_DATA_DIR: dir, BROKER_SQLITE_SYNC: "normal", BROKER_TLS_CERT: cert.cert, BROKER_TLS_KEY: cert.key, BROKER_PREFACE_TIMEOUT_MS: "1000" });
  });
  after(async () => {
    assert.equal((await broker.stop()).code, 0);
    rmSync(dir, { recursive: true, force: true });
    ca[Symbol.dispose]();
  });

  it("closes connections that never start the TLS handshake", async () => {
    const sockets = Array.from({ length: 20 }, () => tcpConnect(broker.port, "127.0.0.1").on("error", () => undefined).resume());
    await Promise.all(sockets.map((s) => once(s, "close")));
    // The port still takes connections: a TLS handshake and the HTTP/2 preface go through.
    const session = connect(`https://localhost:${broker.port}`, { ca: ca.certPem });
    await once(session, "remoteSettings");
    session.close();
  });
});
