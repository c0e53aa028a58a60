// qingyu-events groups and dlq (issue 16, 3): the real CLI, as a child process, against a real
// broker: creates, lists, reads and deletes groups, lists and shows dead letters with their
// attempts, redrives and purges them, and refuses destructive commands that are not confirmed.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { newEvent, RejectError, TargetType, type Consumer } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { runCli } from "../helpers/cli.js";
import { until } from "../helpers/until.js";

/** The CLI's exit code and output, whether it succeeded or not. */
async function outcome(p: Promise<{ stdout: string; stderr: string }>): Promise<{ code: number; stdout: string; stderr: string }> {
  return p.then(
    (r) => ({ code: 0, ...r }),
    (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
  );
}

const lines = (text: string): Record<string, unknown>[] =>
  text
    .trim()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("qingyu-events groups and dlq", () => {
  let t: TestBroker;
  let consumer: Consumer | undefined;
  before(async () => (t = await startTestBroker()));
  after(async () => {
    await consumer?.stop();
    await t.close();
  });
  const cli = (args: string[]) => runCli(t.address, args);

  it("creates a group with its filter and options, lists it with its lag, and reads it back", async () => {
    const created = await cli(["groups", "create", "likes", "like.*", "--from", "beginning", "--ack-deadline", "45s", "--max-attempts", "3", "--ordering", "subject", "--json"]);
    const group = JSON.parse(created.stdout) as { name: string; filter: { types: string[] }; ackDeadline: string; retry: { maxAttempts: number }; ordering: string };
    assert.deepEqual([group.name, group.filter.types, group.ackDeadline, group.retry.maxAttempts, group.ordering], ["likes", ["like.*"], "45s", 3, "ORDERING_MODE_SUBJECT"]);
    await t.client.publishBatch([newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc", subject: "book/b1" })]);
    const listed = lines((await cli(["groups", "ls", "--json"])).stdout);
    assert.deepEqual(
      listed.map((g) => [(g["group"] as { name: string }).name, (g["stats"] as { backlog: string }).backlog]),
      [["likes", "1"]],
    );
    const table = (await cli(["groups", "ls"])).stdout.split("\n");
    assert.match(table[0] ?? "", /^NAME\s+BACKLOG\s+IN_FLIGHT\s+DEAD_LETTERS\s+MEMBERS\s+FILTER$/);
    assert.match(table[1] ?? "", /^likes\s+1\s+0\s+0\s+0\s+types=like\.\*$/);
    const got = JSON.parse((await cli(["groups", "get", "likes", "--json"])).stdout) as { group: { name: string }; stats: { backlog: string } };
    assert.deepEqual([got.group.name, got.stats.backlog], ["likes", "1"]);
    assert.match((await cli(["groups", "get", "likes"])).stdout, /^backlog:\s+1$/m);
  });

  it("reports the broker's refusals: a group that exists, a bad definition, an unknown group", async () => {
    const exists = await outcome(cli(["groups", "create", "likes", "like.*"]));
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /ALREADY_EXISTS/);
    const bad = await outcome(cli(["groups", "create", "Bad Name!", "like.*"]));
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /INVALID_ARGUMENT/);
    const missing = await outcome(cli(["groups", "get", "nope"]));
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NOT_FOUND/);
    const usage = await outcome(cli(["groups", "create", "x", "--ordering", "random"]));
    assert.equal(usage.code, 2);
  });

  it("lists dead letters and shows one with every attempt", async () => {
    await cli(["groups", "create", "reviews", "--source", "review-svc", "--from", "beginning"]);
    consumer = t.client.consume("reviews", (e) => {
      throw new RejectError(`cannot handle ${e.id}`);
    });
    const events = ["a", "b", "c"].map((u) => newEvent("like.added", { userId: u, targetType: TargetType.BOOK, targetId: "b1" }, { source: "review-svc" }));
    await t.client.publishBatch(events);
    // No deadline of its own: the runner's timeout ends a test that waits for ever.
    await until(async () => (await t.client.groups.get("reviews")).stats.deadLetters === 3n, "three dead letters", { timeoutMs: Infinity });
    await consumer.stop();
    consumer = undefined;
    const letters = lines((await cli(["dlq", "ls", "reviews", "--json"])).stdout) as { position: string; event: { id: string }; attempts: unknown[]; reason: string }[];
    assert.deepEqual(
      letters.map((d) => [d.event.id, d.reason, d.attempts.length]),
      events.map((e) => [e.id, "rejected", 1]),
    );
    const table = (await cli(["dlq", "ls", "reviews"])).stdout.trim().split("\n");
    assert.equal(table.length, 4);
    const first = letters[0]?.position ?? "";
    const shown = await cli(["dlq", "show", "reviews", first]);
    assert.match(shown.stdout, new RegExp(`^position:\\s+${first}$`, "m"));
    assert.match(shown.stdout, /#1 .* cannot handle/);
    // An unknown position is a not-found like an unknown group: the status, and the exit code of a failed call.
    const none = await outcome(cli(["dlq", "show", "reviews", "ffffffffffffffff"]));
    assert.equal(none.code, 1);
    assert.match(none.stderr, /^qingyu-events: \[NOT_FOUND\] .*'ffffffffffffffff'/m);
    assert.doesNotMatch(none.stderr, /usage:/);
  });

  it("refuses redrive, purge and delete without --yes when stdin is no terminal, and does nothing", async () => {
    for (const args of [
      ["dlq", "purge", "reviews", "--all"],
      ["dlq", "redrive", "reviews", "--all"],
      ["groups", "delete", "reviews"],
    ]) {
      const r = await outcome(cli(args));
      assert.equal(r.code, 2, args.join(" "));
      assert.match(r.stderr, /--yes/);
    }
    assert.equal((await t.client.groups.get("reviews")).stats.deadLetters, 3n);
    const unclear = await outcome(cli(["dlq", "purge", "reviews", "--yes"]));
    assert.equal(unclear.code, 2, "a purge must say which dead letters");
  });

  it("purges one dead letter by position, redrives the rest, then deletes the group, with --yes", async () => {
    const letters = lines((await cli(["dlq", "ls", "reviews", "--json"])).stdout) as { position: string }[];
    const purged = JSON.parse((await cli(["dlq", "purge", "reviews", "--position", letters[0]?.position ?? "", "--yes", "--json"])).stdout) as { purged: number };
    assert.equal(purged.purged, 1);
    const redriven = await cli(["dlq", "redrive", "reviews", "--all", "--yes"]);
    assert.match(redriven.stdout, /redrove 2 dead letter\(s\) of 'reviews'/);
    const stats = (await t.client.groups.get("reviews")).stats;
    assert.equal(stats.deadLetters, 0n);
    assert.equal(stats.backlog, 2n, "redriven events are back in the group's backlog");
    await cli(["groups", "delete", "reviews", "--yes"]);
    assert.deepEqual(
      (await t.client.groups.list()).map((g) => g.name),
      ["likes"],
    );
  });
});
