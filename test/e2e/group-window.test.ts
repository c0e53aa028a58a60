// A consumer group's window is bounded in bytes on both back ends (issue 11, item 1): members that
// take everything and answer nothing hold no more than BROKER_GROUP_WINDOW_BYTES (the last event
// may pass it), and every event is delivered once they answer.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newEvent, TargetType } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { startNatsServer, type NatsServer } from "../helpers/nats-server.js";

const WINDOW = 16_384;
const CONTENT = "w".repeat(2_000); // events of about 2.1 kB

async function until(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (const end = Date.now() + 30_000; !(await cond()); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
  }
}

for (const mode of ["embedded", "nats"] as const) {
  describe(`consumer group window in bytes (${mode})`, () => {
    let nats: NatsServer | undefined;
    let t: TestBroker;
    before(async () => {
      if (mode === "nats") nats = await startNatsServer();
      t = await startTestBroker({ BROKER_GROUP_WINDOW_BYTES: String(WINDOW), ...(nats ? { BROKER_NATS_URL: nats.url } : {}) });
    });
    after(async () => {
      await t.close();
      await nats?.[Symbol.asyncDispose]();
    });

    it("holds no more than the byte bound for members that answer nothing, then delivers every event", async () => {
      await t.client.groups.create({ name: "window", filter: { sources: ["window-svc"] }, start: "beginning" });
      const events = Array.from({ length: 40 }, (_, i) => newEvent("comment.created", { userId: `u${i}`, targetType: TargetType.BOOK, targetId: "b", commentId: `c${i}`, content: CONTENT }, { source: "window-svc" }));
      await t.client.publishBatch(events);
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      const seen = new Set<string>();
      let held = 0;
      let most = 0;
      const c = t.client.consume("window", async (e) => {
        seen.add(e.id);
        most = Math.max(most, ++held);
        await released;
        held--;
      }, { concurrency: 100 });
      try {
        await until(() => held > 0, "first deliveries");
        // Give the group every chance to read past its bound.
        await new Promise((r) => setTimeout(r, 500));
        const inFlight = Number((await t.client.groups.get("window")).stats.inFlight);
        const bound = Math.ceil(WINDOW / (CONTENT.length + 100)) + 1;
        assert.ok(most <= bound && inFlight <= bound, `${most} events held at once (${inFlight} in flight); the window takes ${bound}`);
        release();
        await until(() => seen.size === events.length, "every event delivered");
        await until(async () => (await t.client.groups.get("window")).stats.backlog === 0n, "nothing left");
      } finally {
        release();
        await c.stop();
      }
    });
  });
}
