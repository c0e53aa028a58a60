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
 * The wake-up of a consumer waiting for a producer (a queue that got an item, a window that got
 * room): `wait()` resolves at the next `notify()`, which wakes the one waiter, if any. One
 * implementation instead of a hand-written resolver in every queue.
 */
export class Wakeup {
  private waiter: (() => void) | undefined;

  wait(): Promise<void> {
    return new Promise((resolve) => (this.waiter = resolve));
  }

  notify(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
