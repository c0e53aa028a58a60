// What a Consume stream has to write to its member: deliveries and answers to its answers, in
// order, with a bound. Deliveries are bounded by the member's in-flight limit (a delivery stays
// counted until it is written, see Member.queued); everything else by `limit`, past which the
// member is not reading its stream and is ended.
import { Fifo } from "../../../sdk/src/fifo.js";
import type { Member } from "./group-entry.js";

interface Item<F> {
  frame: F | Uint8Array;
  /** For deliveries: still the member's to answer when its turn comes. */
  current?: (() => boolean) | undefined;
}

export class MemberOutbox<F> {
  private readonly items = new Fifo<Item<F>>();
  private wake: (() => void) | undefined;
  /** Frames waiting that are not deliveries. */
  private others = 0;

  constructor(
    private readonly member: () => Member | undefined,
    /** Frames other than deliveries that may wait. */
    private readonly limit: number,
    /** Called once when the limit is passed. */
    private readonly overflow: (waiting: number) => void,
    /**
     * Called when `take` let go of deliveries (written, or skipped as no longer the member's): the
     * member may take more now, and nothing else may ask the group to deliver (no ack, join or
     * new event), so the group must be told.
     */
    private readonly freed: () => void = () => undefined,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** A delivery (see Member.send). */
  delivery(frame: Uint8Array, current: () => boolean): void {
    this.items.push({ frame, current });
    this.notify();
  }

  /** Any other frame (a Stale answer). */
  push(frame: F): void {
    this.items.push({ frame });
    if (++this.others === this.limit + 1) this.overflow(this.items.length);
    this.notify();
  }

  /** Wakes a waiting `next` (input ended, call aborted). */
  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  /**
   * The next frame to write, skipping deliveries that were redelivered or finished meanwhile;
   * undefined when there is none now.
   */
  take(): F | Uint8Array | undefined {
    let freed = false;
    try {
      for (;;) {
        const item = this.items.shift();
        if (!item) return undefined;
        if (!item.current) {
          this.others--;
          return item.frame;
        }
        const m = this.member();
        if (m && --m.queued === 0) m.stalled = false;
        freed = true;
        if (item.current()) return item.frame;
      }
    } finally {
      if (freed) this.freed();
    }
  }

  /** Resolves when something is pushed or `notify` is called. */
  waitForMore(): Promise<void> {
    return new Promise((r) => (this.wake = r));
  }
}
