// Events per second by domain over the last minutes, counted from a Subscribe stream that starts
// WINDOW_MS ago (history first, then live), by recorded time. No DOM here: unit-tested in Node.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { Event } from "../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { catalogEntry } from "../../sdk/src/catalog/catalog.js";

export const WINDOW_MS = 5 * 60_000;
export const BUCKET_MS = 5_000;
const BUCKETS = WINDOW_MS / BUCKET_MS;

/** Counts per domain per bucket (bucket = floor(recorded ms / BUCKET_MS)). */
export class RateCounter {
  private readonly counts = new Map<string, Map<number, number>>();

  add(e: Event): void {
    if (!e.recordedTime) return;
    const bucket = Math.floor(timestampMs(e.recordedTime) / BUCKET_MS);
    const domain = catalogEntry(e.type)?.domain ?? "?";
    const perBucket = this.counts.get(domain) ?? new Map<number, number>();
    perBucket.set(bucket, (perBucket.get(bucket) ?? 0) + 1);
    this.counts.set(domain, perBucket);
  }

  /** Per domain, events per second of each bucket of the window ending at `nowMs`, oldest first. */
  series(nowMs: number): Map<string, number[]> {
    const last = Math.floor(nowMs / BUCKET_MS);
    const out = new Map<string, number[]>();
    for (const [domain, perBucket] of this.counts) {
      for (const b of perBucket.keys()) if (b <= last - BUCKETS) perBucket.delete(b);
      out.set(domain, Array.from({ length: BUCKETS }, (_, i) => (perBucket.get(last - BUCKETS + 1 + i) ?? 0) / (BUCKET_MS / 1000)));
    }
    return out;
  }
}

