// The pipelined JetStream publisher against a real nats-server with JetStream.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { JetStreamPublisher } from "../../server/src/bus/jetstream-publisher.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

function withId(id: string) {
  const h = headers();
  h.set("Nats-Msg-Id", id);
  return h;
}

describe("JetStreamPublisher", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  before(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: "PUBTEST", subjects: ["pubtest.>"], duplicate_window: 60_000_000_000 });
  });
  after(async () => {
    await nc.close();
    await nats[Symbol.asyncDispose]();
  });

  it("acknowledges thousands of pipelined messages, each with its own stream sequence, stored in order", async () => {
    const publisher = new JetStreamPublisher(nc);
    const acks = await Promise.all(Array.from({ length: 5_000 }, (_, i) => publisher.publish(`pubtest.a.${i % 7}`, new TextEncoder().encode(`m${i}`), withId(`id-${i}`))));
    publisher.close();
    assert.deepEqual(acks.map((a) => a.seq), Array.from({ length: 5_000 }, (_, i) => i + 1));
    assert.ok(acks.every((a) => a.stream === "PUBTEST" && !a.duplicate));
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("PUBTEST");
    assert.equal(info.state.messages, 5_000);
    const last = await jsm.streams.getMessage("PUBTEST", { seq: 5_000 });
    assert.equal(new TextDecoder().decode(last?.data), "m4999");
  });

  it("reports a message id already in the duplicate window as a duplicate, stored once", async () => {
    const publisher = new JetStreamPublisher(nc);
    const first = await publisher.publish("pubtest.dup", new Uint8Array([1]), withId("dup-1"));
    const again = await publisher.publish("pubtest.dup", new Uint8Array([1]), withId("dup-1"));
    publisher.close();
    assert.equal(first.duplicate, false);
    assert.equal(again.duplicate, true);
    assert.equal(again.seq, first.seq);
  });

  it("rejects a publish no stream takes (no responders) and one never acknowledged (timeout)", async () => {
    const publisher = new JetStreamPublisher(nc, 300);
    await assert.rejects(publisher.publish("nostream.x", new Uint8Array([1]), withId("n-1")), /did not take the message: 503/);
    // A plain subscriber on the subject: the message is delivered, but nobody acknowledges it.
    const silent = nc.subscribe("silent.x", { callback: () => undefined });
    await nc.flush();
    await assert.rejects(publisher.publish("silent.x", new Uint8Array([1]), withId("s-1")), /did not acknowledge within 300 ms/);
    silent.unsubscribe();
    assert.equal(publisher.pending, 0);
    publisher.close();
  });

  it("fails what is still waiting when closed", async () => {
    const silent = nc.subscribe("silent.y", { callback: () => undefined });
    await nc.flush();
    const publisher = new JetStreamPublisher(nc);
    const waiting = publisher.publish("silent.y", new Uint8Array([1]), withId("c-1"));
    publisher.close();
    await assert.rejects(waiting, /closed/);
    silent.unsubscribe();
  });
});
