// DNS rebinding (issue 16, review): the HTTP port answers only requests naming a host it knows
// (IP addresses, localhost, the bound host, BROKER_HTTP_ALLOWED_HOSTS); a page whose name was made
// to resolve to the broker's address gets 421, whatever it calls.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { connect } from "node:net";
import { startTestBroker } from "../helpers/broker.js";

/** A raw HTTP/1.1 unary Connect call (fetch cannot set Host); the status line and body. */
async function callAs(port: number, host: string): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  await once(socket, "connect");
  const chunks: Buffer[] = [];
  socket.on("data", (c: Buffer) => chunks.push(c));
  socket.write(`POST /qingyu.broker.v1.EventBrokerService/CountEvents HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}`);
  await once(socket, "close");
  return Buffer.concat(chunks).toString("utf8");
}

describe("HTTP port: the hosts it answers for", () => {
  it("refuses a name it does not know with 421 and answers IP addresses, localhost and BROKER_HTTP_ALLOWED_HOSTS", async () => {
    await using t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_HTTP_ALLOWED_HOSTS: "broker.internal, Events.Example.org" });
    const port = t.broker.httpPort ?? 0;
    for (const host of ["rebound.attacker.example", "rebound.attacker.example:" + port, "broker.internal.attacker.example", ""]) {
      const answer = await callAs(port, host);
      assert.match(answer, /^HTTP\/1\.1 421 /, host);
      assert.match(answer, /BROKER_HTTP_ALLOWED_HOSTS/);
    }
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "10.1.2.3", "broker.internal", `events.example.org:${port}`, "app.localhost"]) {
      assert.match(await callAs(port, host), /^HTTP\/1\.1 200 /, host);
    }
  });

  it("answers any host with BROKER_HTTP_ALLOWED_HOSTS=*", async () => {
    await using t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_HTTP_ALLOWED_HOSTS: "*" });
    assert.match(await callAs(t.broker.httpPort ?? 0, "anything.example"), /^HTTP\/1\.1 200 /);
  });
});
