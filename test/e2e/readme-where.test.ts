// README's five `where` queries over the catalog, read from README.md and run as written through
// the real CLI against a broker holding, for each query, events that match and near misses that
// do not. If README's queries stop type-checking or stop meaning what the README says, this fails.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { CLI, runCli } from "../helpers/cli.js";
import { sampleEvent } from "../helpers/sample-events.js";

/** The `npx qingyu-events ...` lines of README's block of five queries, split as a shell would. */
function readmeQueries(): string[][] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const start = readme.indexOf("Five queries over our catalog");
  assert.ok(start > 0, "README has lost its five queries");
  const block = readme.slice(start, readme.indexOf("```\n", readme.indexOf("```sh", start) + 5));
  return block
    .split("\n")
    .filter((l) => l.startsWith("npx qingyu-events "))
    .map((l) => shellWords(l).slice(2));
}

/** Words of a command line with single-quoted strings (all README uses). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? "");
  return words;
}

type Tweak = (e: Event, p: Record<string, any>) => void;

/** A sample event of `type`, made now, with the payload and envelope changed by `tweak`. */
function event(type: string, tweak: Tweak): Event {
  const e = sampleEvent(type as never) as Event;
  e.time = timestampFromMs(Date.now());
  e.metadata = {};
  tweak(e, e.payload.value as Record<string, any>);
  return e;
}

/** For each query (by its command and first filter word): the events to store, and which must come back. */
const CASES: Record<string, { match: Event[]; miss: Event[] }> = {
  "count chapter.purchased": {
    match: [5001n, 7500n].map((n) => event("chapter.purchased", (_, p) => (p["amount"].minorUnits = n))),
    miss: [event("chapter.purchased", (_, p) => (p["amount"].minorUnits = 5000n))],
  },
  "replay social.*": {
    match: [
      event("like.added", (_, p) => (p["userId"] = "u1")),
      event("comment.created", (_, p) => (p["userId"] = "u1")),
      event("follow.added", (_, p) => (p["followerId"] = "u1")),
    ],
    miss: [event("like.added", (_, p) => (p["userId"] = "u2")), event("follow.added", (_, p) => ((p["followerId"] = "u2"), (p["followeeId"] = "u1")))],
  },
  "replay withdrawal.created": {
    match: [event("withdrawal.created", (_, p) => ((p["bankName"] = "招商银行"), (p["amount"].minorUnits = 100_000n)))],
    miss: [
      event("withdrawal.created", (_, p) => ((p["bankName"] = "招商银行"), (p["amount"].minorUnits = 99_999n))),
      event("withdrawal.created", (_, p) => ((p["bankName"] = "工商银行"), (p["amount"].minorUnits = 500_000n))),
    ],
  },
  "tail reward.created": {
    match: [event("reward.created", (_, p) => ((p["authorId"] = "a-7"), (p["message"] = "加油")))],
    miss: [event("reward.created", (_, p) => ((p["authorId"] = "a-7"), (p["message"] = ""))), event("reward.created", (_, p) => ((p["authorId"] = "a-8"), (p["message"] = "加油")))],
  },
  "tail system.*": {
    match: [
      event("security.alert", (e, p) => ((p["ipAddress"] = "203.0.113.9"), (e.metadata = { tenant: "t1" }))),
      event("security.account_locked", (e, p) => ((p["userId"] = "u1"), (e.metadata = { tenant: "t1" }))),
    ],
    miss: [
      event("security.alert", (e, p) => ((p["ipAddress"] = "198.51.100.1"), (e.metadata = { tenant: "t1" }))),
      event("security.alert", (e, p) => ((p["ipAddress"] = "203.0.113.9"), (e.metadata = { tenant: "t2" }))),
      event("security.alert", (e, p) => ((p["ipAddress"] = "203.0.113.9"), (e.metadata = { tenant: "t1" }), (e.time = timestampFromMs(Date.now() - 2 * 3_600_000)))),
    ],
  },
};

/**
 * Runs a `tail`: with `--from`, the history up to the CLI's "-- live --" mark; without, the live
 * events published once it is live (`live`), up to the last expected match.
 */
async function tail(address: string, args: string[], live: () => Promise<void>, last: string | undefined): Promise<string[]> {
  const child = spawn(process.execPath, [CLI, "--address", address, ...args, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
  const ids: string[] = [];
  let stderr = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  const done = new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (line) => {
      ids.push((JSON.parse(line) as { id: string }).id);
      if (last !== undefined && ids.includes(last)) resolve();
    });
    child.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
      if (!stderr.includes("-- live --")) return;
      if (last === undefined) resolve();
      else live().catch(reject);
    });
    void exited.then((code) => reject(new Error(`tail exited ${code}: ${stderr}`)));
  });
  await done;
  child.kill("SIGINT");
  assert.equal(await exited, 0, stderr);
  return ids;
}

describe("README's five where queries, run through the CLI", () => {
  let t: TestBroker;
  before(async () => {
    t = await startTestBroker();
    for (const [key, c] of Object.entries(CASES)) {
      if (key.startsWith("tail ") && !key.includes("system")) continue; // live-only: published once the tail is live
      await t.client.publishBatch([...c.miss, ...c.match]);
    }
  });
  after(() => t.close());

  it("README still has five queries, each with a case here", () => {
    const queries = readmeQueries();
    assert.equal(queries.length, 5);
    for (const q of queries) assert.ok(CASES[`${q[0]} ${q[1]}`], `no case for README's query '${q.join(" ")}'`);
  });

  for (const [key, c] of Object.entries(CASES)) {
    it(`'${key} --where …' returns exactly its matches`, async () => {
      const args = readmeQueries().find((q) => `${q[0]} ${q[1]}` === key);
      assert.ok(args, `README has no query '${key}'`);
      assert.ok(args.includes("--where"));
      const expected = c.match.map((e) => e.id).sort();
      if (args[0] === "count") {
        assert.equal((await runCli(t.address, args)).stdout.trim(), String(expected.length));
      } else if (args[0] === "replay") {
        const out = await runCli(t.address, [...args, "--json"]);
        assert.deepEqual(out.stdout.trim().split("\n").map((l) => (JSON.parse(l) as { id: string }).id).sort(), expected);
      } else {
        const live = !args.includes("--from");
        // Live: the misses go first, so that a miss delivered would arrive before the last match.
        const ids = await tail(t.address, args, () => t.client.publishBatch([...c.miss, ...c.match]).then(() => undefined), live ? c.match.at(-1)?.id : undefined);
        assert.deepEqual([...ids].sort(), expected);
      }
    });
  }
});
