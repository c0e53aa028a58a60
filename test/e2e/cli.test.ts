import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { TargetType, newEvent } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { CLI, runCli } from "../helpers/cli.js";


describe("qingyu-events CLI", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());
  const cli = (args: string[], input?: string) => runCli(t.address, args, input);

  it("publishes JSON from stdin and from an argument, then replays and counts", async () => {
    const lines = [
      '{"type":"like.added","source":"social-svc","likeAdded":{"userId":"u1","targetType":"TARGET_TYPE_BOOK","targetId":"b42"}}',
      '{"type":"comment.created","source":"social-svc","commentCreated":{"userId":"u2","targetType":"TARGET_TYPE_BOOK","targetId":"b42","commentId":"c1","content":"好"}}',
    ];
    const out = await cli(["publish", "--json"], lines.join("\n") + "\n");
    const acks = out.stdout.trim().split("\n").map((l) => JSON.parse(l) as { position: string; duplicate: boolean });
    assert.equal(acks.length, 2);
    await cli(["publish", "--json", '{"type":"deposit.created","source":"finance-svc","depositCreated":{"depositId":"d1","userId":"u1","amount":{"currencyCode":"CNY","minorUnits":"600"},"paymentMethod":"PAYMENT_METHOD_ALIPAY"}}']);
    const replay = await cli(["replay", "social.*", "--json"]);
    assert.deepEqual(replay.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { type: string }).type), ["like.added", "comment.created"]);
    assert.equal((await cli(["count", "finance.*"])).stdout.trim(), "1");
    assert.equal((await cli(["count", "*", "--from", "1h"])).stdout.trim(), "3");
  });

  it("tails history then live events until interrupted", async () => {
    const child = spawn(process.execPath, [CLI, "--address", t.address, "tail", "like.*", "--from", "beginning", "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    const seen: string[] = [];
    const live = newEvent("like.added", { userId: "tail-live", targetType: TargetType.BOOK, targetId: "b1" }, { source: "s" });
    const gotLive = new Promise<void>((resolve) => {
      createInterface({ input: child.stdout }).on("line", (line) => {
        seen.push((JSON.parse(line) as { id: string }).id);
        if (seen.includes(live.id)) resolve();
      });
    });
    await new Promise<void>((resolve) => child.stderr.on("data", (b: Buffer) => b.toString().includes("-- live --") && resolve()));
    await t.client.publish(live);
    await gotLive;
    child.kill("SIGINT");
    const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
    assert.equal(code, 0);
    assert.ok(seen.length >= 2);
  });

  it("exits 2 with usage on a bad command line, 1 with the broker's message on a refused call", async () => {
    await assert.rejects(cli(["frobnicate"]), (err: { code: number; stderr: string }) => err.code === 2 && /unknown command/.test(err.stderr));
    await assert.rejects(cli(["tail", "nope.*"]), (err: { code: number; stderr: string }) => err.code === 1 && /INVALID_ARGUMENT/.test(err.stderr));
  });
});
