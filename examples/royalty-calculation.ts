// Royalty calculation: each sale or reward earns the author a share, published as revenue.earned.
// Port of the seed's RoyaltyCalculationHandler (which only logged). Run: node --import tsx examples/royalty-calculation.ts
import { createHash } from "node:crypto";
import { createBrokerClient, newEvent, RevenueSource, RejectError, type BrokerClient, type Consumer, type Event, type Money, type TypedEvent } from "../sdk/src/index.js";

export const GROUP = "royalty-calculation";
/** The author's share in basis points: 70% of sales, 90% of rewards. */
export const SALE_ROYALTY_BPS = 7_000;
export const REWARD_ROYALTY_BPS = 9_000;

/**
 * The revenue event's id is derived from the sale's id, so a redelivered sale publishes the same
 * event again, which the broker answers as a duplicate: the royalty is booked once.
 */
export function derivedEventId(sourceId: string, purpose: string): string {
  const h = createHash("sha256").update(`${sourceId}/${purpose}`).digest("hex");
  // Keep the source's 48-bit UUIDv7 timestamp, so ids stay time-ordered; version 7, RFC variant.
  const ts = sourceId.replace(/-/g, "").slice(0, 12);
  const variant = ((parseInt(h.slice(3, 4), 16) & 0x3) | 0x8).toString(16);
  return `${ts.slice(0, 8)}-${ts.slice(8, 12)}-7${h.slice(0, 3)}-${variant}${h.slice(4, 7)}-${h.slice(7, 19)}`;
}

function share(amount: Money | undefined, bps: number): Money {
  if (!amount) throw new RejectError("sale without an amount");
  return { $typeName: "qingyu.events.v1.Money", currencyCode: amount.currencyCode, minorUnits: (amount.minorUnits * BigInt(bps)) / 10_000n };
}

/** Starts the calculation; `authorOf` finds a book's author (a catalog service, in real life). */
export async function startRoyalties(client: BrokerClient, authorOf: (bookId: string) => string | undefined): Promise<Consumer> {
  await client.groups.ensure({
    name: GROUP,
    filter: { types: ["book.purchased", "chapter.purchased", "reward.created"] },
    start: "beginning",
    retry: { initialDelayMs: 1_000, maxAttempts: 8 },
  });
  const earn = async (cause: Event, author: string | undefined, source: RevenueSource, sourceId: string, amount: Money | undefined, bps: number) => {
    if (!author) throw new Error(`author of the sale ${cause.id} not known yet`); // retried with backoff
    const revenue = newEvent(
      "revenue.earned",
      { revenueId: `rev-${sourceId}`, userId: author, source, sourceId, amount, royaltyRateBps: bps, netAmount: share(amount, bps) },
      { id: derivedEventId(cause.id, "revenue"), source: "finance-svc", subject: `user/${author}`, correlationId: cause.correlationId || cause.id, causationId: cause.id },
    );
    await client.publish(revenue);
  };
  return client.consume(
    GROUP,
    {
      "book.purchased": (e: TypedEvent<"book.purchased">) => earn(e, authorOf(e.payload.value.bookId), RevenueSource.BOOK_PURCHASE, e.payload.value.orderId, e.payload.value.finalAmount, SALE_ROYALTY_BPS),
      "chapter.purchased": (e: TypedEvent<"chapter.purchased">) => earn(e, authorOf(e.payload.value.bookId), RevenueSource.CHAPTER_PURCHASE, e.payload.value.orderId, e.payload.value.finalAmount, SALE_ROYALTY_BPS),
      "reward.created": (e: TypedEvent<"reward.created">) => earn(e, e.payload.value.authorId, RevenueSource.REWARD, e.payload.value.rewardId, e.payload.value.amount, REWARD_ROYALTY_BPS),
    },
    { concurrency: 16 },
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const address = process.env["BROKER_ADDRESS"] ?? "127.0.0.1:50051";
  const client = createBrokerClient({ address });
  const consumer = await startRoyalties(client, () => "author-1");
  process.on("SIGINT", () => void consumer.stop().then(() => client.close()));
  console.log(`royalty-calculation: consuming group '${GROUP}' on ${address}, publishing revenue.earned; Ctrl-C stops`);
}
