// A clock tests move by hand: intervals run as time is advanced past them, in time order.
import type { Clock } from "../../server/src/clock.js";

interface Interval {
  readonly ms: number;
  next: number;
  readonly fn: () => void;
}

export class ManualClock implements Clock {
  private t: number;
  private readonly intervals = new Set<Interval>();

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  every(ms: number, fn: () => void): () => void {
    const interval = { ms, next: this.t + ms, fn };
    this.intervals.add(interval);
    return () => this.intervals.delete(interval);
  }

  /** Moves time forward by `ms`, running each interval due on the way at its own time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let due: Interval | undefined;
      for (const i of this.intervals) if (i.next <= end && (!due || i.next < due.next)) due = i;
      if (!due) break;
      this.t = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.t = end;
  }
}
