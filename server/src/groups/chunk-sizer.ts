// How many events a feed reads at once. A window is bounded in bytes, but the store and JetStream
// are asked for a number of events: the count is chosen from the bytes left in the window and the
// size of recent events, so that one read never brings in much more than the window takes.

/** Bytes per event assumed before any is seen: a first read of a window of 8 MiB takes 32. */
const FIRST_ESTIMATE = 256 << 10;
const SMALLEST_ESTIMATE = 256;

export class ChunkSizer {
  private estimate = FIRST_ESTIMATE;

  constructor(private readonly max: number) {}

  /** Events to read now: at least one (an event larger than the room still passes, alone). */
  size(roomEvents: number, roomBytes: number): number {
    return Math.max(1, Math.min(this.max, roomEvents, Math.floor(roomBytes / this.estimate)));
  }

  /** The largest event of the last read: the estimate follows it up at once and down gradually. */
  saw(largest: number): void {
    this.estimate = Math.max(largest, this.estimate / 4, SMALLEST_ESTIMATE);
  }
}
