// A message that a non-broker NATS client puts on the fan-out subjects never reaches a subscriber
// as an event, with NATS configured as deploy/nats-permissions.example.conf says. Issue 14.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { create, toBinary } from "@bufbuild/protobuf";
import { EventSchema, type Event } from "../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { decodePosition, encodePosition } from "../../server/src/store/position.js";
import { HEADER_ID, HEADER_POSITION, HEADER_TYPE } from "../../server/src/bus/nats-bus.js";

const BROKER_PASSWORD = "broker-secret";
const LISTENER_PASSWORD = "listener-secret";

/** A forged withdrawal.approved, framed as the broker frames events on NATS, at `position`. */
async function forge(nc: NatsConnection, position: string, id: string): Promise<void> {
  const e = create(EventSchema, { ...sampleEvent("withdrawal.approved"), id, source: "finance-svc", position });
  const h = headers();
  h.set(HEADER_ID, id);
  h.set(HEADER_TYPE, e.type);
  h.set(HEADER_POSITION, position);
  nc.publish("events.finance.withdrawal.approved", toBinary(EventSchema, e), { headers: h });
  await nc.flush();
}

const next = (position: string, by = 1n) => encodePosition((decodePosition(position) ?? 0n) + by);

describe("NATS permissions on the fan-out subjects", () => {
  let nats: NatsServer;
  let t: TestBroker;

  before(async () => {
    const config = readFileSync("deploy/nats-permissions.example.conf", "utf8")
      .replace("$BROKER_NATS_PASSWORD", JSON.stringify(BROKER_PASSWORD))
      .replace("$LISTENER_NATS_PASSWORD", JSON.stringify(LISTENER_PASSWORD));
    nats = await startNatsServer({ config });
    t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_USER: "broker", BROKER_NATS_PASSWORD: BROKER_PASSWORD });
  });
  after(async () => {
    await t.close();
    await nats[Symbol.asyncDispose]();
  });

  it("refuses a broker that has no credentials", async () => {
    await assert.rejects(startTestBroker({ BROKER_NATS_URL: nats.url }));
  });

  it("keeps a listener's forged message from subscribers, while a broker credential would get through", async () => {
    const received: Event[] = [];
    const stop = new AbortController();
    let caughtUp!: () => void;
    const ready = new Promise<void>((r) => (caughtUp = r));
    const reading = t.client.tail({ types: ["withdrawal.approved"] }, (e) => void received.push(e), { signal: stop.signal, onCaughtUp: () => caughtUp() });
    await ready;
    const first = await t.client.publish({ ...sampleEvent("withdrawal.approved"), source: "finance-svc" });

    const listener = await connect({ servers: nats.url, user: "listener", pass: LISTENER_PASSWORD });
    const errors: string[] = [];
    void (async () => {
      for await (const s of listener.status()) if (s.type === "error") errors.push(String(s.error));
    })();
    await forge(listener, next(first.position), "forged-by-listener");
    // The next real event takes the forged message's position: the subscriber sees it, not the forgery.
    const second = await t.client.publish({ ...sampleEvent("withdrawal.approved"), source: "finance-svc" });
    assert.equal(second.position, next(first.position));
    while (received.length < 2) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(received.map((e) => e.id), [first.id, second.id]);
    assert.ok(errors.some((e) => /permissions violation/i.test(e)), errors.join("; "));
    await listener.close();

    // The control: the same forgery under a broker's credentials is taken, so only NATS's
    // permissions keep the fan-out honest and broker credentials must stay with brokers.
    const rogue = await connect({ servers: nats.url, user: "broker", pass: BROKER_PASSWORD });
    await forge(rogue, next(second.position), "forged-with-broker-credentials");
    while (received.length < 3) await new Promise((r) => setTimeout(r, 10));
    assert.equal(received[2]?.id, "forged-with-broker-credentials");
    await rogue.close();
    stop.abort();
    await reading;
  });
});
