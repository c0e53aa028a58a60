import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { TargetType, newEvent } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { freePort } from "../helpers/nats-server.js";

const run = promisify(execFile);
const CLI = new URL("../../sdk/bin/qingyu-events.mjs", import.meta.url).pathname;

describe("qingyu-events CLI", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());
  const cli = (args: string[], input?: string) => {
    const p = run(process.execPath, [CLI, "--address", t.address, ...args], { timeout: 20_000 });
    if (input !== undefined) {
      p.child.stdin?.end(input);
    }
    return p;
  };

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

  // https://github.com/qingyu/event-broker/issues/12 (6)
  it("stops publishing at a bad line, naming it and how many were published before it, with exit code 2", async () => {
    const good = (user: string) => `{"type":"like.added","source":"cli-bad","likeAdded":{"userId":"${user}","targetType":"TARGET_TYPE_BOOK","targetId":"b1"}}`;
    const notJson = [good("p1"), "", good("p2"), "{not json", good("p3")].join("\n") + "\n";
    await assert.rejects(cli(["publish", "--json"], notJson), (err: { code: number; stderr: string; stdout: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr, /^qingyu-events: line 4: .+; 2 event\(s\) published before it, none after it\n$/);
      assert.equal(err.stdout.trim().split("\n").length, 2);
      return true;
    });
    const invalid = [good("p4"), '{"type":"like.added","source":"cli-bad","likeAdded":{"targetType":"TARGET_TYPE_BOOK","targetId":"b1"}}'].join("\n");
    await assert.rejects(cli(["publish", "--json"], invalid), (err: { code: number; stderr: string }) => err.code === 2 && /^qingyu-events: line 2: .*user_id.*; 1 event\(s\) published before it/.test(err.stderr));
    assert.equal(await t.client.countEvents({ sources: ["cli-bad"] }), 3);
  });

  it("prints a header above the event types", async () => {
    const lines = (await cli(["types"])).stdout.trim().split("\n");
    assert.match(lines[0] ?? "", /^TYPE\s+DOMAIN\s+MESSAGE\s+NATS SUBJECT$/);
    assert.ok(lines.some((l) => l.startsWith("like.added ")));
  });

  it("says tail is retrying when the broker cannot be reached, instead of printing nothing", async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, "--address", `127.0.0.1:${port}`, "tail", "like.*"], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    await new Promise<void>((resolve) =>
      child.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
        if (stderr.includes("retrying")) resolve();
      }),
    );
    child.kill("SIGINT");
    assert.equal(await new Promise<number | null>((resolve) => child.on("exit", resolve)), 0);
    assert.match(stderr, new RegExp(`^qingyu-events: cannot reach the broker at 127\\.0\\.0\\.1:${port} \\(.*UNAVAILABLE.*\\): retrying; Ctrl-C ends\\n$`));
  });
});
