import { decodePosition } from "./position.js";
import type { StoreRange } from "./event-store.js";

/** Sequence-number bounds of a range: lo < sequence < hi. */
export interface SequenceBounds {
  lo: number;
  hi: number;
}

/**
 * Turns a range's position and time bounds into sequence bounds. Time bounds become positions via
 * `firstAtOrAfter` (the first sequence recorded at or after a time), which is exact because recorded
 * time never decreases along positions. Shared by both stores.
 *
 * @returns undefined when the range cannot match anything
 */
export function sequenceBounds(range: StoreRange, firstAtOrAfter: (us: number) => number | undefined): SequenceBounds | undefined {
  let lo = range.afterPosition ? Number(decodePosition(range.afterPosition) ?? 0n) : 0;
  let hi = range.beforePosition ? Number(decodePosition(range.beforePosition) ?? 0n) : Number.POSITIVE_INFINITY;
  if (range.fromUs !== undefined) {
    const first = firstAtOrAfter(range.fromUs);
    if (first === undefined) return undefined;
    lo = Math.max(lo, first - 1);
  }
  if (range.toUs !== undefined) {
    const end = firstAtOrAfter(range.toUs);
    if (end !== undefined) hi = Math.min(hi, end);
  }
  return hi <= lo + 1 ? undefined : { lo, hi };
}
