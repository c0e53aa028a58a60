// The HTTP port at shutdown (issue 16, review): an HTTP/2 connection still open is told GOAWAY, so
// its client opens no new calls on it, while the stream it has open ends with SHUTTING_DOWN.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:http2";
import { startTestBroker } from "../helpers/broker.js";
import { makeCa, serverCert } from "../helpers/certs.js";

describe("HTTP port: shutdown", () => {
  it("sends GOAWAY on an open HTTP/2 connection, and ends its Subscribe stream with SHUTTING_DOWN", async () => {
    using ca = makeCa();
    const server = serverCert(ca);
    const t = await startTestBroker({ BROKER_TLS_CERT: server.cert, BROKER_TLS_KEY: server.key, BROKER_HTTP_PORT: "0" });
    const session = connect(`https://127.0.0.1:${t.broker.httpPort}`, { ca: ca.certPem });
    session.on("error", () => {});
    let goaway = false;
    session.once("goaway", () => (goaway = true));
    const body = Buffer.from(JSON.stringify({}));
    const envelope = Buffer.alloc(5);
    envelope.writeUInt32BE(body.length, 1);
    const stream = session.request({ ":method": "POST", ":path": "/qingyu.broker.v1.EventBrokerService/Subscribe", "content-type": "application/connect+json" });
    stream.end(Buffer.concat([envelope, body]));
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("error", () => {});
    await once(stream, "data");
    const goawayBeforeEnd = new Promise<boolean>((resolve) => stream.once("close", () => resolve(goaway)));
    const closed = t.close();
    assert.equal(await goawayBeforeEnd, true, "GOAWAY came before the stream's end");
    assert.match(Buffer.concat(chunks).toString("utf8"), /"unavailable".*ERROR_REASON_SHUTTING_DOWN/s);
    await closed;
    session.destroy();
  });
});
