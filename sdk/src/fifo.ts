/** A queue with O(1) push and shift (Array#shift is O(n), which a long queue turns quadratic). */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, left in the queue. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/**
 * The wake-up of whoever waits for a producer (a queue that got an item, a window that got room):
 * `wait()` resolves at the next `notify()`, which wakes every waiter. Waiters check their
 * condition again when woken (a notify before `wait()` is not kept).
 */
export class Wakeup {
  private waiters: (() => void)[] = [];

  wait(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  notify(): void {
    if (this.waiters.length === 0) return;
    const woken = this.waiters;
    this.waiters = [];
    for (const w of woken) w();
  }
}

/**
 * An async queue (modelled on nats.js's QueuedIterator): producers `push`, one consumer iterates
 * or `shift`s, O(1) each. `close()` ends the iteration once the items already pushed are taken;
 * `close(err)` ends it with `err` thrown after them. Later pushes are dropped. A bound
 * (`maxItems`) is the producer's back-pressure: `waitForRoom()` resolves while the queue holds
 * fewer, or once it is closed; pushing past it is the producer's choice (a queue never refuses).
 */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly items = new Fifo<T>();
  /** Wakes the consumer: an item, or the end. */
  private readonly arrived = new Wakeup();
  /** Wakes producers: room, or the end. */
  private readonly left = new Wakeup();
  private done = false;
  private failure: { err: unknown } | undefined;
  private iterating = false;

  constructor(readonly maxItems = Number.POSITIVE_INFINITY) {}

  get length(): number {
    return this.items.length;
  }

  /** At its bound: a producer that respects it waits for room (waitForRoom) before pushing more. */
  get full(): boolean {
    return this.items.length >= this.maxItems;
  }

  /** Closed: pushes are dropped; the items already in it are still taken. */
  get closed(): boolean {
    return this.done;
  }

  /** Adds an item; false (and dropped) once the queue is closed. */
  push(item: T): boolean {
    if (this.done) return false;
    this.items.push(item);
    this.arrived.notify();
    return true;
  }

  /** The oldest item, left in the queue. */
  peek(): T | undefined {
    return this.items.peek();
  }

  /** Takes the oldest item now, if any. */
  shift(): T | undefined {
    const item = this.items.shift();
    if (!this.full) this.left.notify();
    return item;
  }

  /** Ends the queue: the consumer takes what is in it, then its iteration ends (with `err`, if given). */
  close(err?: unknown): void {
    if (this.done) return;
    this.done = true;
    if (err !== undefined) this.failure = { err };
    this.arrived.notify();
    this.left.notify();
  }

  /** Resolves once the queue holds fewer than `maxItems` items, or is closed. */
  async waitForRoom(): Promise<void> {
    while (!this.done && this.full) await this.left.wait();
  }

  /** Resolves once every item is taken, or the queue is closed. */
  async drained(): Promise<void> {
    while (!this.done && this.items.length > 0) await this.left.wait();
  }

  /** One consumer: the items in push order, until the queue is closed and empty. */
  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterating) throw new Error("an AsyncQueue has one consumer");
    this.iterating = true;
    try {
      for (;;) {
        if (this.items.length > 0) {
          yield this.shift() as T;
          continue;
        }
        if (this.done) break;
        await this.arrived.wait();
      }
      if (this.failure) throw this.failure.err;
    } finally {
      // A consumer that breaks out ends the queue: nobody takes its items any more.
      this.close();
    }
  }
}
