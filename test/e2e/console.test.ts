// The web console in a real browser (Debian's chromium through playwright-core) against a real
// broker's HTTP port: overview, events search by type and time range, one event and its
// correlation chain, the live tail with pause and resume, a dead letter redriven, the catalog, and
// a broker with an access policy. Issue 16. CONSOLE_SCREENSHOTS=1 rewrites docs/console/*.png.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { eventCatalog, eventDomains, newEvent, RejectError, TargetType, type Consumer, type Event, type EventType } from "../../sdk/src/index.js";
import { startTestBroker, type TestBroker } from "../helpers/broker.js";
import { openBrowser, screenshot, type TestBrowser } from "../helpers/browser.js";
import { sampleEvent } from "../helpers/sample-events.js";
import { demoToken, EXAMPLE_POLICY } from "../helpers/auth.js";

const like = (user: string, source: string) => newEvent("like.added", { userId: user, targetType: TargetType.BOOK, targetId: "b1" }, { source, subject: "book/b1" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A datetime-local value (the browser runs in UTC). */
const localTime = (ms: number) => new Date(ms).toISOString().slice(0, 19);
const ids = async (page: Page, rows: string) => page.locator(`${rows} a[href^="#/event/"]`).allTextContents();
/** Waits until `selector` matches exactly `n` elements (polled from here: the console's security policy refuses evaluated strings). */
async function count(page: Page, selector: string, n: number): Promise<void> {
  while ((await page.locator(selector).count()) !== n) await sleep(50);
}

function consoleUrl(t: TestBroker): string {
  const port = t.broker.httpPort;
  assert.ok(port !== undefined, "the broker serves HTTP");
  return `http://127.0.0.1:${port}/`;
}

describe("web console", () => {
  let t: TestBroker;
  let browser: TestBrowser;
  let page: Page;
  let base: string;
  let consumer: Consumer;
  let fixed = false;
  const deliveries: number[] = [];
  const chain: Event[] = [];

  before(async () => {
    t = await startTestBroker({ BROKER_HTTP_PORT: "0" });
    base = consoleUrl(t);
    browser = await openBrowser();
    page = await browser.newPage();
    // One event of the first type of each domain, so the overview counts every domain.
    const firstOfDomain = eventDomains().map((d) => eventCatalog().find((e) => e.domain === d)?.type as EventType);
    await t.client.publishBatch(firstOfDomain.map((type) => ({ ...sampleEvent(type), correlationId: "" })));
    // A flow: an order, what it caused, and what that caused.
    for (const type of ["book.purchased", "revenue.earned", "notification.sent"] as const) {
      const e = { ...sampleEvent(type), correlationId: "order-7", causationId: chain.at(-1)?.id ?? "" };
      await t.client.publish(e);
      chain.push(e);
    }
    // A group whose consumer fails three times: one dead letter with three attempts.
    await t.client.groups.create({ name: "royalties", filter: { sources: ["dlq-svc"] }, start: "beginning", retry: { initialDelayMs: 20, jitter: 0, maxAttempts: 3 } });
    consumer = t.client.consume("royalties", (e, ctx) => {
      if ((e.payload.value as { userId?: string }).userId === "malformed") throw new RejectError("malformed royalty rate");
      deliveries.push(ctx.attempt);
      if (!fixed) throw new Error("royalty service down");
    });
    await t.client.publish(like("poison", "dlq-svc"));
    while ((await t.client.groups.get("royalties")).stats.deadLetters !== 1n) await sleep(20);
  });
  after(async () => {
    await consumer?.stop();
    await browser?.close();
    await t?.close();
  });

  it("serves the console's files with a content security policy, and 404 for other paths", async () => {
    const index = await fetch(base);
    assert.equal(index.status, 200);
    assert.match(index.headers.get("content-type") ?? "", /text\/html/);
    assert.match(index.headers.get("content-security-policy") ?? "", /script-src 'self'/);
    assert.match(await index.text(), /console\.js/);
    assert.equal((await fetch(`${base}console.js`)).status, 200);
    assert.equal((await fetch(`${base}nope`)).status, 404);
  });

  it("loads the overview: store, subscribers, events per second by domain counted by the broker, groups with their lag", async () => {
    await page.goto(base);
    await page.locator("#broker-stats dd", { hasText: "sqlite" }).waitFor();
    await page.locator("#broker-stats dt:text-is('subscribers') + dd").waitFor();
    // Each domain's events of the last five minutes (all this broker has), as CountEvents counts them.
    const inWindow = async (d: string) => page.locator(`#rates li[data-domain="${d}"]`).getAttribute("data-events");
    for (const d of eventDomains()) {
      const n = await t.client.countEvents({ domains: [d] });
      await page.locator(`#rates li[data-domain="${d}"][data-events="${n}"]`).waitFor();
    }
    // The page counts with CountEvents: it holds no Subscribe stream to read the events themselves.
    assert.equal((await t.client.brokerStats()).subscribers, 0);
    const row = page.locator("#groups-table tbody tr", { hasText: "royalties" });
    await row.waitFor();
    // group, backlog, oldest unacked, in flight, retrying, dead letters, members
    await page.locator("#groups-table tbody tr td:nth-child(6)", { hasText: "1" }).waitFor();
    // Events published while the page is open are counted live.
    const social = Number(await inWindow("social"));
    for (let i = 0; i < 6; i++) await t.client.publish(like(`live-${i}`, "overview-svc")), await sleep(500);
    await page.locator(`#rates li[data-domain="social"][data-events="${social + 6}"]`).waitFor();
    await screenshot(page, "overview");
  });

  it("searches events by type and time range, page by page", async () => {
    const older = await t.client.publishBatch(["a1", "a2", "a3"].map((u) => like(u, "search-svc")));
    // The next whole second after the older events: the time range's boundary.
    const boundary = Math.floor(Math.max(...older.map((r) => r.recordedTime!.getTime())) / 1000) * 1000 + 1000;
    while (Date.now() <= boundary) await sleep(50);
    const newer = [like("b1", "search-svc"), like("b2", "search-svc")];
    await t.client.publishBatch([...newer, { ...sampleEvent("comment.created"), source: "search-svc" }]);

    await page.goto(`${base}#/events`);
    await page.fill("input[name=types]", "like.added");
    await page.fill("input[name=source]", "search-svc");
    await page.fill("input[name=from]", localTime(boundary));
    await page.click("form.filters button[type=submit]");
    await page.locator("#event-list tbody tr").nth(1).waitFor();
    assert.deepEqual(await ids(page, "#event-list"), newer.map((e) => e.id).reverse(), "newest first, only the newer likes");
    await screenshot(page, "events");

    await page.fill("input[name=from]", "");
    await page.fill("input[name=to]", localTime(boundary));
    await page.click("form.filters button[type=submit]");
    await count(page, "#event-list tbody tr", 3);
    assert.deepEqual(await ids(page, "#event-list"), older.map((r) => r.id).reverse());

    // Oldest first.
    await page.uncheck("input[name=newest]");
    await page.waitForURL(/newest=0/);
    await page.locator("#event-list tbody tr").nth(2).waitFor();
    assert.deepEqual(await ids(page, "#event-list"), older.map((r) => r.id));

    // Pages of 25: the next page has the rest, the previous one the first 25 again.
    const many = await t.client.publishBatch(Array.from({ length: 30 }, (_, i) => like(`p${i}`, "paging-svc")));
    await page.goto(`${base}#/events?source=paging-svc&newest=0&size=25`);
    await count(page, "#event-list tbody tr", 25);
    assert.deepEqual(await ids(page, "#event-list"), many.slice(0, 25).map((r) => r.id));
    await page.click("button:text-is('next ▶')");
    await count(page, "#event-list tbody tr", 5);
    assert.deepEqual(await ids(page, "#event-list"), many.slice(25).map((r) => r.id));
    assert.equal(await page.locator("button:text-is('next ▶')").isDisabled(), true);
    await page.click("button:text-is('◀ previous')");
    await count(page, "#event-list tbody tr", 25);
  });

  it("searches with a where expression, and shows a wrong one's error with its position", async () => {
    const [hit, miss] = [like("w-hit", "where-svc"), like("w-miss", "where-svc")];
    await t.client.publishBatch([miss, hit]);
    await page.goto(`${base}#/events`);
    await page.fill("input[name=source]", "where-svc");
    await page.fill("input[name=where]", 'event.like_added.user_id == "w-hit"');
    await page.click("form.filters button[type=submit]");
    await page.waitForURL(/where=/);
    await count(page, "#event-list tbody tr", 1);
    assert.deepEqual(await ids(page, "#event-list"), [hit.id]);

    await page.fill("input[name=where]", "event.like_added.user == 1");
    await page.click("form.filters button[type=submit]");
    const error = page.locator("#results p.error");
    await error.waitFor();
    assert.match((await error.textContent()) ?? "", /INVALID_ARGUMENT.*filter\.where.*1:\d+/i);
    // The browser logs the refused request (HTTP 400) as a console error: that one was asked for.
    const asked = browser.errors.findIndex((e) => e.includes("where=event.like_added.user+") && e.includes("400"));
    assert.ok(asked >= 0, browser.errors.join("\n"));
    browser.errors.splice(asked, 1);
  });

  it("opens an event: envelope and payload as JSON with the catalog's field names, and its correlation chain", async () => {
    const last = chain.at(-1)!;
    await page.goto(`${base}#/events?correlation=order-7`);
    await page.locator("#event-list tbody tr").nth(2).waitFor();
    await page.click(`#event-list a:text-is("${last.id}")`);
    await page.locator("#event-json").waitFor();
    const json = JSON.parse((await page.textContent("#event-json")) ?? "") as Record<string, unknown>;
    assert.equal(json["id"], last.id);
    assert.equal(json["correlation_id"], "order-7");
    assert.equal(json["causation_id"], chain[1]!.id);
    assert.ok(json["notification_sent"], "the payload under its oneof case's proto name");
    assert.ok(typeof json["recorded_time"] === "string");
    // The chain nests each event under its cause; this one is the third level.
    await page.locator("#chain ul.chain > li > ul > li > ul > li.current").waitFor();
    assert.equal(await page.locator("#chain li").count(), 3);
    await page.locator(`dd a[href="#/event/${chain[1]!.id}"]`).waitFor();
    await screenshot(page, "event");
  });

  it("tails live events as they are published, and resumes after a pause without a gap", async () => {
    await page.goto(`${base}#/live?types=like.added&source=live-svc`);
    await page.locator("#live-status", { hasText: "live" }).waitFor();
    const firstThree = [like("l1", "live-svc"), like("l2", "live-svc"), like("l3", "live-svc")];
    for (const e of firstThree) await t.client.publish(e);
    await t.client.publish(like("other", "not-live-svc"));
    await count(page, "#live-rows tr", 3);
    assert.deepEqual(await ids(page, "#live-rows"), firstThree.map((e) => e.id).reverse());
    await screenshot(page, "live");

    await page.click("#live-toggle");
    await page.locator("#live-status", { hasText: "paused" }).waitFor();
    const whilePaused = [like("p1", "live-svc"), like("p2", "live-svc")];
    await t.client.publishBatch(whilePaused);
    await page.click("#live-toggle");
    await count(page, "#live-rows tr", 5);
    assert.deepEqual(await ids(page, "#live-rows"), [...firstThree, ...whilePaused].map((e) => e.id).reverse());
  });

  it("shows a group's dead letter with every attempt, and redrives it after confirmation", async () => {
    await page.goto(`${base}#/groups/royalties`);
    const row = page.locator("#dead-letter-table > tbody > tr");
    await row.first().waitFor();
    assert.equal(await row.count(), 1);
    await row.locator("summary").click();
    assert.deepEqual(await row.locator("table.attempts tbody tr td:nth-child(4)").allTextContents(), Array(3).fill("royalty service down"));
    await page.locator("#group-definition", { hasText: '"max_attempts": 3' }).waitFor();
    await screenshot(page, "groups", { fullPage: true });

    fixed = true;
    await row.locator("input[type=checkbox]").check();
    let asked = "";
    page.once("dialog", (d) => ((asked = d.message()), void d.accept()));
    await page.click("button:text-is('Redrive selected')");
    await page.locator("#dead-letter-outcome", { hasText: "redriven: 1" }).waitFor();
    assert.match(asked, /Redrive 1 selected dead letter of group 'royalties'/);
    await page.locator("#dead-letters", { hasText: "no dead letter" }).waitFor();
    while (deliveries.length < 4) await sleep(20);
    assert.deepEqual(deliveries, [1, 2, 3, 1], "delivered again with fresh attempts");
  });

  it("purges a dead letter only once the operator confirms", async () => {
    await t.client.publish(like("malformed", "dlq-svc"));
    while ((await t.client.groups.get("royalties")).stats.deadLetters !== 1n) await sleep(20);
    await page.reload(); // the page shows the group already: read it again
    const row = page.locator("#dead-letter-table > tbody > tr", { hasText: "rejected" });
    await row.waitFor();
    page.once("dialog", (d) => void d.dismiss());
    await page.click("button:text-is('Purge all')");
    assert.equal((await t.client.groups.get("royalties")).stats.deadLetters, 1n, "a dismissed confirmation purges nothing");
    page.once("dialog", (d) => void d.accept());
    await page.click("button:text-is('Purge all')");
    await page.locator("#dead-letter-outcome", { hasText: "purged: 1" }).waitFor();
    await page.locator("#dead-letters", { hasText: "no dead letter" }).waitFor();
    assert.equal((await t.client.groups.get("royalties")).stats.deadLetters, 0n);
  });

  it("lists the catalog from the descriptors, with fields and rules", async () => {
    await page.goto(`${base}#/catalog`);
    await page.locator("article.event-type").first().waitFor();
    assert.equal(await page.locator("article.event-type").count(), eventCatalog().length);
    const likeAdded = page.locator('article[data-type="like.added"]');
    await likeAdded.locator("td", { hasText: "user_id" }).waitFor();
    assert.match((await likeAdded.locator("tr", { hasText: "user_id" }).textContent()) ?? "", /required/);
    await likeAdded.locator("p.meta", { hasText: "NATS subject events.social.like.added" }).waitFor();
    await screenshot(page, "catalog");
  });

  it("ran without a page error or a refused script", () => {
    assert.deepEqual(browser.errors, []);
  });
});

describe("web console on a broker with an access policy", () => {
  let t: TestBroker;
  let browser: TestBrowser;
  before(async () => {
    t = await startTestBroker({ BROKER_HTTP_PORT: "0", BROKER_AUTH_FILE: EXAMPLE_POLICY });
    browser = await openBrowser();
  });
  after(async () => {
    await browser?.close();
    await t?.close();
  });

  it("says UNAUTHENTICATED without a token, reads with a pasted token, and counts the domains a narrower token may read", async () => {
    const page = await browser.newPage();
    await page.goto(consoleUrl(t));
    await page.locator("#broker-stats .note.error", { hasText: "UNAUTHENTICATED" }).waitFor();
    await page.fill("input[name=token]", demoToken("operator"));
    await page.click("form.token button");
    await page.locator("#broker-stats dd", { hasText: "sqlite" }).waitFor();
    await page.locator("#rates svg").waitFor();
    assert.equal(await page.locator("#rates-scope").textContent(), "", "the operator reads every domain");

    // A token that may read some domains only: the rates of those.
    await page.fill("input[name=token]", demoToken("analytics"));
    await page.click("form.token button");
    const scope = page.locator("#rates-scope", { hasText: "may read" });
    await scope.waitFor();
    const text = (await scope.textContent()) ?? "";
    assert.match(text, /\bsocial\b/);
    assert.doesNotMatch(text, /\bfinance\b/);
  });
});
