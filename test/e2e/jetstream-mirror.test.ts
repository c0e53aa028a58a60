// The JetStream mirror of the log (server/src/log/jetstream-log.ts) when JetStream stops taking
// events for a while: a refused or unanswered publish ends the run, forwarding starts over from the
// last position acknowledged in order, and once JetStream takes events again the stream holds
// every event, each once.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect, headers, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { TargetType, newEvent } from "../../sdk/src/index.js";
import { durableLogNames } from "../../server/src/log/jetstream-log.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

const PASSWORD = "broker-secret";
/** The broker's user, refused publishing on the mirror's subjects while `refused`. */
const natsConfig = (refused: boolean) => `authorization { users = [
  { user: broker, password: ${PASSWORD}, permissions: { publish: { allow: [">"], deny: [${refused ? '"events_durable.>"' : ""}] }, subscribe: { allow: [">"] } } }
] }
`;

async function until(cond: () => boolean | Promise<boolean>, what: string | (() => Promise<string>), timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "string" ? what : await what()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Whether the broker's user may publish on the mirror's subjects now (after a reload). The probe
 * expects a stream that does not exist, so JetStream answers it without storing it.
 */
async function mayPublish(nc: NatsConnection): Promise<boolean> {
  const h = headers();
  h.set("Nats-Expected-Stream", "NO_SUCH_STREAM");
  return nc.request("events_durable.probe.probe", new Uint8Array(), { timeout: 2_000, headers: h }).then(
    () => true,
    (err: Error) => !/permissions violation/i.test(err.message),
  );
}

const like = (i: number) => newEvent("like.added", { userId: `u${i}`, targetType: TargetType.BOOK, targetId: "b1" }, { source: "mirror-svc" });

describe("the JetStream mirror when JetStream refuses events for a while", () => {
  let nats: NatsServer;
  let t: TestBroker;
  let probe: NatsConnection;
  before(async () => {
    nats = await startNatsServer({ config: natsConfig(false) });
    t = await startTestBroker({ BROKER_NATS_URL: nats.url, BROKER_NATS_USER: "broker", BROKER_NATS_PASSWORD: PASSWORD, BROKER_GROUP_BACKEND: "jetstream" });
    probe = await connect({ servers: nats.url, user: "broker", pass: PASSWORD });
  });
  after(async () => {
    await probe.close();
    await t.close();
    await nats[Symbol.asyncDispose]();
  });

  it("holds every event once after JetStream takes them again, none skipped", async () => {
    const jsm = await jetstreamManager(probe);
    const stream = durableLogNames("events").stream;
    const inStream = async () => (await jsm.streams.info(stream)).state.messages;
    // The first group starts the mirror.
    await t.client.groups.create({ name: "mirrored", start: "beginning" });
    await t.client.publishBatch(Array.from({ length: 20 }, (_, i) => like(i)));
    await until(async () => (await inStream()) === 20, async () => `the first events mirrored (${await inStream()} in the stream)`);

    nats.reconfigure(natsConfig(true));
    await until(async () => !(await mayPublish(probe)), "the mirror's subjects refused");
    const failures = () => t.logs.lines.filter((l) => l["msg"] === "forwarding to JetStream failed; resuming from the last acknowledged position").length;
    // nats-server applies a reload to its connections one after another: the broker's may take
    // events a moment longer than the probe's. Events go on until one is refused (a publish waits
    // up to 5 s for its acknowledgement).
    let published = 20;
    for (let round = 0; failures() === 0; round++) {
      assert.ok(round < 10, "no publish was refused");
      await t.client.publishBatch(Array.from({ length: 5 }, (_, i) => like(published + i)));
      published += 5;
      await until(() => failures() > 0, "a refused run", 8_000).catch(() => undefined);
    }
    assert.ok((await inStream()) < published, "the stream lacks what was refused");

    nats.reconfigure(natsConfig(false));
    await until(async () => (await inStream()) === published, async () => `every event mirrored (${await inStream()} of ${published} in the stream)`);
    // The duplicate window keeps one copy of each id: as many messages as events, each a different one.
    const ids = new Set<string>();
    for (let seq = 1; seq <= published; seq++) ids.add((await jsm.streams.getMessage(stream, { seq }))?.header.get("Nats-Msg-Id") ?? "");
    assert.equal(ids.size, published);
  });
});
