// README's plain-HTTP curl examples, taken from README itself and run with the real curl against a
// broker's HTTP port: each answers JSON, an error only where its comment says so. Issue 16.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { promisify } from "node:util";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";

const run = promisify(execFile);
const README_PORT = "8080";

/** The first sh block after README's "Plain HTTP" heading: its variable lines, and its commands. */
function readmeExamples(): { prelude: string[]; commands: string[] } {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Plain HTTP"));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(block, "README has a Plain HTTP section with an sh block");
  const lines = block.split("\n").filter((l) => l.trim() !== "");
  return { prelude: lines.filter((l) => /^[A-Z]+=/.test(l)), commands: lines.filter((l) => l.startsWith("curl ")) };
}

describe("README's plain-HTTP curl examples", () => {
  let t: TestBroker;
  const { prelude, commands } = readmeExamples();

  before(async () => {
    t = await startTestBroker({ BROKER_HTTP_PORT: "0" });
  });
  after(() => t.close());

  it("has the examples README promises, the issue's QueryEvents among them", () => {
    assert.ok(commands.length >= 8, `found ${commands.length} curl commands`);
    assert.ok(commands.some((c) => c.includes(`'{"filter":{"types":["like.added"]},"pageSize":10}' http://127.0.0.1:${README_PORT}/qingyu.broker.v1.EventBrokerService/QueryEvents`)));
  });

  it("runs each one, in order, and gets the JSON its comment promises", async () => {
    const port = String(t.broker.httpPort);
    const env = prelude.join("\n").replaceAll(`127.0.0.1:${README_PORT}`, `127.0.0.1:${port}`);
    const answers: Record<string, unknown>[] = [];
    for (const command of commands) {
      const { stdout } = await run("sh", ["-c", `${env}\n${command.replaceAll(`127.0.0.1:${README_PORT}`, `127.0.0.1:${port}`)}`], { timeout: 30_000 });
      const body = JSON.parse(stdout) as Record<string, unknown>;
      const promised = /# .*"code":"([a-z_]+)"/.exec(command)?.[1];
      assert.equal(body["code"], promised, `${command}\n-> ${stdout}`);
      const shown = /# (\{.*\})$/.exec(command)?.[1];
      if (shown) assert.deepEqual(body, JSON.parse(shown), command);
      answers.push(body);
    }
    const published = answers[1] as { id: string; position: string };
    assert.equal(published.id, "0190f5a0-8b2c-7d3e-9f40-123456789abd");
    const page = answers[2] as { events: { id: string; likeAdded: object }[] };
    assert.deepEqual(
      page.events.map((e) => e.id),
      [published.id],
    );
    assert.equal((answers[3] as { event: { position: string } }).event.position, published.position);
  });
});
