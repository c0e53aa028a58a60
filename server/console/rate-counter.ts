// Events per second by domain over the last minutes, counted by the broker (CountEvents) per
// 5-second bucket of recorded time: the page never reads the events themselves, so a busy broker
// costs it a few calls, not its traffic. No DOM here: unit-tested in Node.

export const WINDOW_MS = 5 * 60_000;
export const BUCKET_MS = 5_000;
const BUCKETS = WINDOW_MS / BUCKET_MS;
/**
 * A bucket's count is final once taken this long after the bucket ended: an event's recorded time
 * is set before its commit is visible, so a count taken at the end of a bucket may miss its last
 * events. Until then the bucket is counted again at each pass. (Buckets are cut by the browser's
 * clock: one ahead of the broker's by more than this can miss the last events of a bucket.)
 */
export const SETTLE_MS = 2_000;
/** CountEvents calls one pass keeps in flight at most. */
export const COUNT_CALLS_IN_FLIGHT = 4;

/** How many events of these domains were recorded in [fromMs, toMs): one CountEvents call. */
export type CountEvents = (domains: readonly string[], fromMs: number, toMs: number) => Promise<number>;

/** Counts per bucket (bucket = floor(recorded ms / BUCKET_MS)) per domain, for `domains`. */
export class RateCounter {
  private readonly counts = new Map<number, ReadonlyMap<string, number>>();
  private readonly final = new Set<number>();

  constructor(readonly domains: readonly string[]) {}

  /** The buckets of the window ending at `nowMs` not counted yet or not final, oldest first. */
  due(nowMs: number): number[] {
    const last = Math.floor(nowMs / BUCKET_MS);
    this.forgetBefore(last - BUCKETS + 1);
    return Array.from({ length: BUCKETS }, (_, i) => last - BUCKETS + 1 + i).filter((b) => !this.final.has(b));
  }

  /** The counts of `bucket`, taken by a pass that started at `countedAtMs`. */
  record(bucket: number, perDomain: ReadonlyMap<string, number>, countedAtMs: number): void {
    this.counts.set(bucket, perDomain);
    if (countedAtMs >= (bucket + 1) * BUCKET_MS + SETTLE_MS) this.final.add(bucket);
  }

  /** Per domain, events per second of each bucket of the window ending at `nowMs`, oldest first. */
  series(nowMs: number): Map<string, number[]> {
    const last = Math.floor(nowMs / BUCKET_MS);
    this.forgetBefore(last - BUCKETS + 1);
    const perSecond = (d: string, b: number) => (this.counts.get(b)?.get(d) ?? 0) / (BUCKET_MS / 1000);
    return new Map(this.domains.map((d) => [d, Array.from({ length: BUCKETS }, (_, i) => perSecond(d, last - BUCKETS + 1 + i))]));
  }

  private forgetBefore(first: number): void {
    for (const b of this.counts.keys()) if (b < first) this.counts.delete(b);
    for (const b of this.final) if (b < first) this.final.delete(b);
  }
}

/** One bucket per domain. One call finds a bucket empty (most are on a quiet broker); a bucket with events is counted domain by domain. */
async function countBucket(domains: readonly string[], count: CountEvents, bucket: number): Promise<Map<string, number>> {
  const from = bucket * BUCKET_MS;
  const to = from + BUCKET_MS;
  const perDomain = new Map(domains.map((d) => [d, 0]));
  if (domains.length > 1 && (await count(domains, from, to)) === 0) return perDomain;
  for (const d of domains) perDomain.set(d, await count([d], from, to));
  return perDomain;
}

/** One pass: counts every due bucket of the window ending at `nowMs`, with at most COUNT_CALLS_IN_FLIGHT calls at a time. */
export async function countDue(counter: RateCounter, count: CountEvents, nowMs: number): Promise<void> {
  const queue = counter.due(nowMs);
  const worker = async () => {
    for (let b = queue.shift(); b !== undefined; b = queue.shift()) counter.record(b, await countBucket(counter.domains, count, b), nowMs);
  };
  await Promise.all(Array.from({ length: Math.min(COUNT_CALLS_IN_FLIGHT, queue.length) }, worker));
}
