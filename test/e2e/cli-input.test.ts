// https://github.com/qingyu/event-broker/issues/12 (6): the CLI names a bad input line, prints a header
// above the types, and says when it cannot reach the broker. Its own file: each run starts a process.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { CLI, runCli } from "../helpers/cli.js";
import { freePort } from "../helpers/nats-server.js";

describe("qingyu-events CLI: input errors, types, an unreachable broker", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());
  const cli = (args: string[], input?: string) => runCli(t.address, args, input);

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
