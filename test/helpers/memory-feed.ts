// Feeds of a consumer group's runtime kept in memory, for tests of the runtime's own logic.
import type { KvWrite } from "../../server/src/store/event-store.js";
import type { Entry, FeedSink, GroupFeed } from "../../server/src/groups/group-runtime.js";
import { encodePosition } from "../../server/src/store/position.js";

/**
 * Events in memory, admitted as the real feeds do: on pull, while the window has room (with
 * `atStart`, all of them when the runtime starts, whatever the room). Records what became of each.
 */
export class MemoryFeed implements GroupFeed {
  private sink!: FeedSink;
  private next = 0;
  readonly finishedHow: string[] = [];

  constructor(
    private readonly events: readonly Uint8Array[],
    private readonly atStart = false,
  ) {}

  /** Events admitted so far. */
  get admitted(): number {
    return this.next;
  }

  async start(sink: FeedSink): Promise<void> {
    this.sink = sink;
    if (this.atStart) this.admit(() => true);
  }

  pull(): void {
    this.admit(() => this.sink.roomEvents > 0);
  }

  private admit(room: () => boolean): void {
    for (; this.next < this.events.length && room(); this.next++) this.sink.admit(encodePosition(BigInt(this.next + 1)), this.events[this.next] as Uint8Array, 0);
    this.sink.schedulePump();
  }

  finished(_e: Entry, how: string): void {
    this.finishedHow.push(how);
  }
  retryLater(): boolean {
    return false;
  }
  keepAlive(): void {}
  release(): boolean {
    return false;
  }
  async redrive(): Promise<void> {}
  progress(): KvWrite[] {
    return [];
  }
  async lag(): Promise<{ backlog: number; floor: string }> {
    return { backlog: 0, floor: "" };
  }
  update(): void {}
  async close(): Promise<void> {}
}
