import type { Logger } from "pino";
import type { HubEvent, LiveHub } from "../log/live-hub.js";
import { matcher } from "../log/matcher.js";
import type { EventStore, KvWrite } from "../store/event-store.js";
import { decodePosition, encodePosition } from "../store/position.js";
import type { GroupSettings } from "./group-config.js";
import { progressRecord } from "./group-records.js";
import { ChunkSizer } from "./chunk-sizer.js";
import type { Entry } from "./group-entry.js";
import type { FeedSink, GroupFeed } from "./group-feed.js";
import type { GroupRuntime } from "./group-runtime.js";

const FETCH_CHUNK = 256;

/**
 * The embedded feed: reads matching events from the store and takes new ones from the live hub
 * once caught up. Progress is an ack floor (every position up to it is done) plus the positions
 * done above it, written with the group's record.
 */
export class StoreFeed implements GroupFeed {
  private sink!: GroupRuntime;
  private cursor: bigint;
  private floor: bigint;
  private readonly doneAbove = new Set<bigint>();
  private matches: ReturnType<typeof matcher>;
  private fetching = false;
  private behind = true;
  private closed = false;
  private detach: (() => void) | undefined;
  /** Live events not admitted yet (see onLive), and their bytes. */
  private live: HubEvent[] = [];
  private liveBytes = 0;
  private readonly chunks = new ChunkSizer(FETCH_CHUNK);
  private admitting = false;

  constructor(
    private readonly store: EventStore,
    private readonly hub: LiveHub,
    private readonly log: Logger,
    private settings: GroupSettings,
    state: { floor: bigint; doneAbove: readonly bigint[] },
  ) {
    this.floor = state.floor;
    this.cursor = state.floor;
    for (const s of state.doneAbove) this.doneAbove.add(s);
    this.matches = matcher(settings.filter);
  }

  async start(sink: FeedSink): Promise<void> {
    this.sink = sink as GroupRuntime;
    // Redriven events sit below the floor: load them by position.
    for (const [seq, r] of this.sink.restoredRedrives()) {
      if (seq > this.floor) continue;
      const [row] = await this.store.scan({ filter: {}, afterPosition: encodePosition(seq - 1n), beforePosition: encodePosition(seq + 1n), limit: 1 });
      this.sink.takeRestored(seq);
      if (row) sink.admit(row.position, row.data, row.recordedUs, undefined, r);
    }
    this.detach = this.hub.attach((e) => this.onLive(e));
  }

  /**
   * A live event: queued, and admitted on a later turn, off the publish call's path (the hub runs
   * its listeners inside the commit). More than a window's worth queued (in events or bytes), or no
   * room for them: read the store instead, later.
   */
  private onLive(e: HubEvent): void {
    if (this.behind || this.live.length >= this.sink.windowLimit || this.liveBytes >= this.sink.windowBytes || this.sink.roomEvents <= 0) {
      this.live = [];
      this.liveBytes = 0;
      this.behind = true;
    } else {
      this.live.push(e);
      this.liveBytes += e.data.length;
    }
    if (this.admitting) return;
    this.admitting = true;
    setImmediate(() => this.admitLive());
  }

  private admitLive(): void {
    this.admitting = false;
    const live = this.live;
    this.live = [];
    this.liveBytes = 0;
    for (const e of live) {
      if (this.closed) return;
      // Consecutive with what the group has read, and room in the window: take it from the hub.
      if (!this.fetching && !this.behind && e.seq === this.cursor + 1n && this.sink.roomEvents > 0) {
        this.cursor = e.seq;
        if (this.matches(e.meta, e.data) && !this.doneAbove.has(e.seq)) this.sink.admit(e.position, e.data, e.recordedUs);
      } else {
        this.behind = true;
      }
    }
    this.sink.schedulePump();
  }

  pull(): void {
    if (this.behind && !this.fetching && !this.closed) void this.fetch();
  }

  private async fetch(): Promise<void> {
    this.fetching = true;
    try {
      while (this.behind && this.sink.roomEvents > 0 && !this.closed) {
        const head = this.hub.lastSeq;
        if (this.cursor >= head) {
          this.behind = false;
          break;
        }
        const limit = this.chunks.size(this.sink.roomEvents, this.sink.roomBytes);
        const rows = await this.store.scan({ filter: this.settings.filter, afterPosition: encodePosition(this.cursor), beforePosition: encodePosition(head + 1n), limit });
        // Taken while the window has room; the cursor stops after the last one taken.
        let last = this.cursor;
        let full = false;
        let largest = 0;
        for (const r of rows) {
          if (this.closed || this.sink.roomEvents <= 0) {
            full = true;
            break;
          }
          const seq = decodePosition(r.position) ?? 0n;
          if (!this.doneAbove.has(seq)) this.sink.admit(r.position, r.data, r.recordedUs);
          last = seq;
          largest = Math.max(largest, r.data.length);
        }
        this.chunks.saw(largest);
        this.cursor = full || rows.length === limit ? last : head;
        this.sink.schedulePump();
      }
    } catch (err) {
      this.log.warn({ err, group: this.sink.name }, "group could not read the store; retrying");
      await new Promise((r) => setTimeout(r, 500));
    } finally {
      this.fetching = false;
    }
    this.sink.schedulePump();
  }

  finished(entry: Entry): void {
    if (!entry.redriven) this.doneAbove.add(entry.seq);
  }

  retryLater(): boolean {
    return false; // the runtime's own timer
  }

  keepAlive(): void {}

  release(): boolean {
    // One broker serves the group: nobody else would take the event.
    return false;
  }

  async redrive(letters: readonly { position: string; data: Uint8Array; recordedUs: number }[], sink: FeedSink): Promise<void> {
    for (const l of letters) sink.admit(l.position, l.data, l.recordedUs, undefined, (this.sink as GroupRuntime).takeRestored(decodePosition(l.position) ?? 0n));
  }

  /** Everything at or below this is done. */
  private ackFloor(): bigint {
    const min = this.sink.minUnfinishedSeq();
    return min === undefined ? this.cursor : min - 1n;
  }

  progress(): KvWrite[] {
    const floor = this.ackFloor();
    if (floor > this.floor) this.floor = floor;
    for (const s of this.doneAbove) if (s <= this.floor) this.doneAbove.delete(s);
    return [progressRecord(this.settings.name, encodePosition(this.floor), [...this.doneAbove].map(encodePosition))];
  }

  async lag(): Promise<{ backlog: number; floor: string; oldestUs?: number | undefined }> {
    const floor = this.ackFloor();
    let done = 0;
    for (const d of this.doneAbove) if (d > floor) done++;
    const after = await this.store.count({ filter: this.settings.filter, afterPosition: encodePosition(floor) });
    const backlog = Math.max(0, after - done);
    if (backlog === 0) return { backlog, floor: encodePosition(floor) };
    // The oldest unfinished event, for a group whose window does not hold it (no member reads).
    const rows = await this.store.scan({ filter: this.settings.filter, afterPosition: encodePosition(floor), limit: 4 });
    const first = rows.find((r) => !this.doneAbove.has(decodePosition(r.position) ?? 0n));
    return { backlog, floor: encodePosition(floor), oldestUs: first?.recordedUs };
  }

  update(settings: GroupSettings): void {
    this.settings = settings;
    this.matches = matcher(settings.filter);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.detach?.();
  }
}
