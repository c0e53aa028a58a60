import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { createInterface } from "node:readline";
import { join } from "node:path";
import { ContentType, PaymentMethod, PermissionChange, Severity, TargetType, newEvent, type Event } from "../../sdk/src/index.js";
import { startAuditLog } from "../../examples/audit-log.js";
import { derivedEventId, startRoyalties } from "../../examples/royalty-calculation.js";
import { startSocialStats } from "../../examples/social-stats.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { until } from "../helpers/until.js";

const ROOT = new URL("../..", import.meta.url).pathname;

const cny = (fen: bigint) => ({ currencyCode: "CNY", minorUnits: fen });

describe("examples", () => {
  let t: TestBroker;
  before(async () => (t = await startTestBroker()));
  after(() => t.close());

  it("social-stats counts likes, comments and followers, once per event even when redelivered", async () => {
    const like = (u: string, book: string) => newEvent("like.added", { userId: u, targetType: TargetType.BOOK, targetId: book }, { source: "social-svc", subject: `book/${book}` });
    const events: Event[] = [
      like("u1", "b1"),
      like("u2", "b1"),
      newEvent("like.removed", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc", subject: "book/b1" }),
      newEvent("comment.created", { userId: "u3", targetType: TargetType.BOOK, targetId: "b2", commentId: "c1", content: "好看" }, { source: "social-svc", subject: "book/b2" }),
      newEvent("follow.added", { followerId: "u1", followeeId: "author-7" }, { source: "social-svc", subject: "user/author-7" }),
      newEvent("follow.added", { followerId: "u2", followeeId: "author-7" }, { source: "social-svc", subject: "user/author-7" }),
    ];
    await t.client.publishBatch(events);
    const { stats, consumer } = await startSocialStats(t.client);
    await until(async () => (await t.client.groups.get("social-stats")).stats.backlog === 0n, "projection caught up");
    stats.apply(events[0]!); // a redelivery changes nothing
    assert.equal(stats.likes.get("BOOK/b1"), 1);
    assert.equal(stats.comments.get("BOOK/b2"), 1);
    assert.equal(stats.followers.get("author-7"), 2);
    await consumer.stop();
  });

  it("royalty-calculation books the author's share of each sale as revenue.earned, once", async () => {
    const consumer = await startRoyalties(t.client, (book) => (book === "b9" ? "author-9" : undefined));
    const purchase = newEvent("book.purchased", { userId: "reader", bookId: "b9", orderId: "o-1", paymentMethod: PaymentMethod.ALIPAY, amount: cny(1000n), finalAmount: cny(800n) }, { source: "bookstore-svc" });
    const reward = newEvent("reward.created", { rewardId: "r-1", sponsorId: "reader", authorId: "author-9", bookId: "b9", amount: cny(5000n) }, { source: "bookstore-svc" });
    await t.client.publishBatch([purchase, reward]);
    const earned: Event[] = [];
    await until(async () => {
      earned.length = 0;
      for await (const e of t.client.replay({ types: ["revenue.earned"] })) earned.push(e);
      return earned.length === 2;
    }, "two revenue events");
    const nets = earned.map((e) => (e.payload.case === "revenueEarned" ? [e.payload.value.sourceId, e.payload.value.netAmount?.minorUnits] : []));
    assert.deepEqual(nets, [["o-1", 560n], ["r-1", 4500n]]);
    assert.equal(earned[0]?.causationId, purchase.id);
    // Reprocessing the sale (a redelivery) publishes the same id: the broker stores it once.
    assert.equal(earned[0]?.id, derivedEventId(purchase.id, "revenue"));
    await consumer.stop();
  });

  it("audit-log appends system events to a file, skipping those already written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "audit-"));
    const file = join(dir, "audit.ndjson");
    try {
      const events = [
        newEvent("config.changed", { operatorId: "admin-1", configKey: "reader.free_chapters", newValue: { kind: { case: "intValue", value: 5n } } }, { source: "admin-svc" }),
        newEvent("permission.changed", { operatorId: "admin-1", userId: "u7", permission: "book.publish", change: PermissionChange.REVOKED }, { source: "admin-svc" }),
        newEvent("content.unpublished", { contentType: ContentType.CHAPTER, contentId: "ch-3", reason: "copyright claim" }, { source: "moderation-svc" }),
        newEvent("security.account_locked", { userId: "u8", reason: "too many failed logins", severity: Severity.HIGH }, { source: "security-svc" }),
        newEvent("like.added", { userId: "u1", targetType: TargetType.BOOK, targetId: "b1" }, { source: "social-svc" }),
      ];
      await t.client.publishBatch(events);
      const consumer = await startAuditLog(t.client, file);
      await until(async () => (await t.client.groups.get("audit-log")).stats.backlog === 0n, "audit caught up");
      await consumer.stop();
      const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as { id: string; type: string });
      assert.deepEqual(lines.map((l) => l.type), ["config.changed", "permission.changed", "content.unpublished", "security.account_locked"]);
      // A restarted auditor that is handed the same events again does not duplicate lines.
      await t.client.groups.delete("audit-log");
      const again = await startAuditLog(t.client, file);
      await until(async () => (await t.client.groups.get("audit-log")).stats.backlog === 0n, "second audit caught up");
      await again.stop();
      assert.equal(readFileSync(file, "utf8").trim().split("\n").length, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // https://github.com/qingyu/event-broker/issues/12 (7): run as README says, each says it is consuming.
  it("runs each example as a program that logs one line when it starts consuming and stops on Ctrl-C", async () => {
    const dir = mkdtempSync(join(tmpdir(), "examples-run-"));
    try {
      const programs = [["examples/social-stats.ts"], ["examples/royalty-calculation.ts"], ["examples/audit-log.ts", join(dir, "audit.ndjson")]];
      await Promise.all(
        programs.map(async ([file = "", ...args]) => {
          const child = spawn(process.execPath, ["--import", "tsx", file, ...args], { cwd: ROOT, env: { ...process.env, BROKER_ADDRESS: t.address }, stdio: ["ignore", "pipe", "inherit"] });
          const first = await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once("line", resolve));
          assert.match(first, /^[a-z-]+: consuming group '[a-z-]+' on 127\.0\.0\.1:\d+.*; Ctrl-C stops$/, file);
          const exited = new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(`${code ?? signal}`)));
          child.kill("SIGINT");
          assert.equal(await exited, "0", file);
        }),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
