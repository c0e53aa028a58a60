import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TargetType, createBrokerClient, newEvent, type PublishResult } from "../../sdk/src/index.js";
import { runBrokerExpectingFailure, spawnBroker } from "../helpers/broker-process.js";

const like = (i: number) => newEvent("like.added", { userId: `u${i}`, targetType: TargetType.BOOK, targetId: "b1" }, { source: "storm-svc" });

describe("broker process", () => {
  const dirs: string[] = [];
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), "broker-proc-"));
    dirs.push(d);
    return d;
  };
  after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  /** Every acknowledged id is stored exactly once after a restart on the same data directory. */
  async function assertAllPresent(dataDir: string, acked: PublishResult[]) {
    const broker = await spawnBroker({ BROKER_DATA_DIR: dataDir });
    const client = createBrokerClient({ address: broker.address });
    try {
      const stored = new Map<string, number>();
      for await (const e of client.replay({ sources: ["storm-svc"] })) stored.set(e.id, (stored.get(e.id) ?? 0) + 1);
      for (const a of acked) assert.equal(stored.get(a.id), 1, `acknowledged event ${a.id} is missing or duplicated`);
      return stored.size;
    } finally {
      client.close();
      await broker.stop();
    }
  }

  it("loses no acknowledged event when killed with SIGKILL during a publish storm", async () => {
    const dataDir = tempDir();
    const broker = await spawnBroker({ BROKER_DATA_DIR: dataDir, BROKER_SQLITE_SYNC: "normal" });
    const client = createBrokerClient({ address: broker.address, retries: 0 });
    const acked: PublishResult[] = [];
    let i = 0;
    const workers = Array.from({ length: 16 }, async () => {
      for (;;) {
        try {
          acked.push(await client.publish(like(i++)));
        } catch {
          return; // the broker is gone
        }
      }
    });
    while (acked.length < 500) await new Promise((r) => setTimeout(r, 5));
    const { signal } = await broker.stop("SIGKILL");
    assert.equal(signal, "SIGKILL");
    await Promise.all(workers);
    client.close();
    const stored = await assertAllPresent(dataDir, acked);
    assert.ok(stored >= acked.length);
  });

  it("drains on SIGTERM: every accepted event is acknowledged and stored, then exits 0", async () => {
    const dataDir = tempDir();
    const broker = await spawnBroker({ BROKER_DATA_DIR: dataDir });
    const client = createBrokerClient({ address: broker.address, retries: 0 });
    const pub = client.publisher({ window: 500 });
    const results = Array.from({ length: 4000 }, (_, n) => pub.publish(like(n)));
    await results[200];
    const stopping = broker.stop("SIGTERM");
    const settled = await Promise.allSettled(results);
    const { code } = await stopping;
    client.close();
    assert.equal(code, 0);
    const acked = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
    assert.ok(acked.length >= 201, `only ${acked.length} acknowledged`);
    for (const s of settled) if (s.status === "rejected") assert.match(String(s.reason), /UNAVAILABLE|CANCELLED/);
    assert.ok(broker.logs.some((l) => l["msg"] === "broker stopped" && l["graceful"] === true));
    await assertAllPresent(dataDir, acked);
  });

  it("refuses a bad configuration with a clear message and exit code 2", async () => {
    const { code, stderr } = await runBrokerExpectingFailure({ BROKER_GRPC_PORT: "abc" });
    assert.equal(code, 2);
    assert.match(stderr, /BROKER_GRPC_PORT must be an integer 0-65535, got 'abc'/);
  });
});
