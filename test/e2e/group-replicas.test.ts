// Consumer groups shared by two broker replicas (one nats-server, one store): an operator's change
// on one replica is never undone by the other's progress, and a deleted group stays deleted.
// Regression tests for issue 10, item 1.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { durationMs } from "@bufbuild/protobuf/wkt";
import { GroupRecordSchema } from "../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { BrokerError, Code, ErrorReason, TargetType, newEvent, type Event } from "../../sdk/src/index.js";
import type { TestBroker } from "../helpers/broker.js";
import { startReplicas, type Replicas } from "../helpers/replicas.js";

const like = (user: string, source: string) => newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source });

async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const notFound = (err: unknown) => err instanceof BrokerError && err.code === Code.NOT_FOUND && err.reason === ErrorReason.GROUP_NOT_FOUND;

describe("consumer groups shared by two replicas", () => {
  let a: TestBroker;
  let b: TestBroker;
  let replicas: Replicas;
  before(async () => void ({ a, b } = replicas = await startReplicas()));
  after(() => replicas.close());

  /** The definition as stored, read straight from the shared store. */
  async function stored(name: string) {
    const value = await a.broker.store.kvGet(`group/${name}`);
    return value && fromBinary(GroupRecordSchema, value).group;
  }

  /** Waits until B's member of `name` has acknowledged `n` events, then has B write its progress. */
  async function ackedOnB(name: string, n: number): Promise<void> {
    const runtime = await b.broker.groups.find(name);
    await until(() => runtime.memberList.reduce((sum, m) => sum + m.acked, 0) >= n, `${n} acks on b`);
    await runtime.flush();
  }

  it("keeps a group deleted on A deleted on both, however B's member answers, and ends members on both with NOT_FOUND", async () => {
    await a.client.groups.create({ name: "del", filter: { sources: ["del-svc"] }, start: "now" });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const onB = b.client.consume("del", async (e) => {
      seen.push(e.id);
      await gate;
    }, { concurrency: 4, reconnect: false });
    const onA = a.client.consume("del", () => gate, { concurrency: 1, reconnect: false });
    try {
      await b.broker.groups.find("del");
      await a.client.publishBatch([like("d1", "del-svc"), like("d2", "del-svc")]);
      await until(() => seen.length >= 1, "a delivery to b's member");
      await a.client.groups.delete("del");
      await assert.rejects(onA.done, notFound);
      // B has not noticed yet: its member answers and B writes what it has.
      release();
      const runtime = await b.broker.groups.find("del");
      await until(() => runtime.memberList.reduce((sum, m) => sum + m.acked, 0) >= seen.length, "b's member acknowledged");
      await runtime.flush().catch(() => undefined);
      // Both replicas look at the store again (what their sync timers do).
      await b.broker.groups.sync();
      await a.broker.groups.sync();
      assert.equal(await stored("del"), undefined, "the definition came back");
      assert.deepEqual(await a.broker.store.kvKeys("progress/del"), []);
      await assert.rejects(a.client.groups.get("del"), notFound);
      await assert.rejects(b.client.groups.get("del"), notFound);
      await assert.rejects(onB.done, notFound);
    } finally {
      release();
      await Promise.all([onA.stop(), onB.stop()]);
    }
  });
});
