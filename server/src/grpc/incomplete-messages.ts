// Bytes held in request messages that have begun to arrive but are not complete. grpc-js keeps
// every chunk of a message until its last byte comes, and reads on while it waits: a client that
// announces a 16 MiB message, sends most of it and stops, pinned ~16 MB per stream until it
// disconnected (30 such streams: 450 MB). This counts those bytes per stream from the gRPC framing
// (a 5-byte prefix: flag, 32-bit length), per connection and in total, and names the stream to end
// when a bound is passed or a message stops moving. No grpc-js or HTTP/2 types: the wiring is in
// grpc-internals.ts, the clock is injected.

/** The bounds, from configuration. */
export interface IncompleteLimits {
  /** Bytes of incomplete messages one connection may hold, all its streams together. */
  readonly perConnectionBytes: number;
  /** Bytes of incomplete messages the whole server may hold. */
  readonly totalBytes: number;
  /**
   * How long a message may take from its first byte to its last, and how long it may go without a
   * byte. Time the reader (grpc-js) spends paused is not the client's doing: it is excused, up to
   * `stallMs` again, so a message never stays incomplete longer than twice this.
   */
  readonly stallMs: number;
}

/** Why a stream is ended. */
export type IncompleteVerdict =
  | { readonly kind: "connection-bytes" | "total-bytes"; readonly held: number; readonly limit: number }
  | { readonly kind: "stalled"; readonly received: number; readonly announced: number; readonly idleMs: number }
  | { readonly kind: "too-slow"; readonly received: number; readonly announced: number; readonly ageMs: number };

/** One stream's view of the gRPC framing: how far into the current message it is. */
export class FrameProgress {
  private readonly header = new Uint8Array(5);
  private headerBytes = 0;
  private bodyLeft = 0;
  /** Bytes of the current, incomplete message (its prefix included). */
  held = 0;
  /** Length the current message announced (0 while its prefix is incomplete). */
  announced = 0;
  /** Messages completed so far. */
  completed = 0;

  /** Takes a chunk of the request body; returns how much `held` changed. */
  write(chunk: Uint8Array): number {
    const before = this.held;
    for (let at = 0; at < chunk.length; ) {
      if (this.headerBytes < 5) {
        const n = Math.min(5 - this.headerBytes, chunk.length - at);
        this.header.set(chunk.subarray(at, at + n), this.headerBytes);
        this.headerBytes += n;
        this.held += n;
        at += n;
        if (this.headerBytes === 5) {
          this.announced = new DataView(this.header.buffer).getUint32(1);
          this.bodyLeft = this.announced;
          if (this.bodyLeft === 0) this.complete();
        }
      } else {
        const n = Math.min(this.bodyLeft, chunk.length - at);
        this.bodyLeft -= n;
        this.held += n;
        at += n;
        if (this.bodyLeft === 0) this.complete();
      }
    }
    return this.held - before;
  }

  private complete(): void {
    this.completed++;
    this.headerBytes = 0;
    this.held = 0;
    this.announced = 0;
  }
}

interface Tracked {
  readonly conn: ConnectionCount;
  readonly progress: FrameProgress;
  readonly end: (verdict: IncompleteVerdict) => void;
  /** True while the reader (grpc-js) does not read: then a pause is not the client's doing. */
  readonly readerPaused: () => boolean;
  /** When the current message's first byte arrived. */
  startedMs: number;
  lastByteMs: number;
  /** Time the reader was paused while the current message was incomplete, up to `stallMs`. */
  excusedMs: number;
  /** When the last sweep looked at this stream. */
  checkedMs: number;
  ended: boolean;
}

interface ConnectionCount {
  held: number;
}

/** One stream as the guard sees it. */
export interface TrackedStream {
  data(chunk: Uint8Array): void;
  close(): void;
}

/** Counts incomplete messages across a server and decides which stream to end. */
export class IncompleteMessages {
  private readonly streams = new Set<Tracked>();
  /** Bytes held now, all connections together. */
  held = 0;

  constructor(
    private readonly limits: IncompleteLimits,
    private readonly now: () => number,
  ) {}

  /** A new connection's counter, shared by the streams opened on it. */
  connection(): ConnectionCount {
    return { held: 0 };
  }

  track(conn: ConnectionCount, end: (verdict: IncompleteVerdict) => void, readerPaused: () => boolean): TrackedStream {
    const now = this.now();
    const t: Tracked = { conn, progress: new FrameProgress(), end, readerPaused, startedMs: now, lastByteMs: now, excusedMs: 0, checkedMs: now, ended: false };
    this.streams.add(t);
    return {
      data: (chunk) => this.data(t, chunk),
      close: () => this.release(t),
    };
  }

  /**
   * Ends streams whose message has not moved for `stallMs`, or has taken longer than `stallMs` (its
   * excused pauses aside) since its first byte: a byte now and then does not keep one alive. Call
   * it now and then.
   */
  sweep(): void {
    const now = this.now();
    const { stallMs } = this.limits;
    for (const t of this.streams) {
      const elapsed = now - t.checkedMs;
      t.checkedMs = now;
      if (t.progress.held === 0) continue;
      const { held: received, announced } = t.progress;
      if (t.readerPaused()) {
        t.lastByteMs = now;
        t.excusedMs = Math.min(stallMs, t.excusedMs + elapsed);
      } else if (now - t.lastByteMs >= stallMs) {
        this.finish(t, { kind: "stalled", received, announced, idleMs: now - t.lastByteMs });
        continue;
      }
      const ageMs = now - t.startedMs;
      if (ageMs - t.excusedMs >= stallMs) this.finish(t, { kind: "too-slow", received, announced, ageMs });
    }
  }

  private data(t: Tracked, chunk: Uint8Array): void {
    if (t.ended) return;
    const now = this.now();
    t.lastByteMs = now;
    const { held: before, completed } = t.progress;
    const grew = t.progress.write(chunk);
    // A message began in this chunk: its clock starts now.
    if (t.progress.held > 0 && (before === 0 || t.progress.completed !== completed)) {
      t.startedMs = now;
      t.excusedMs = 0;
    }
    t.conn.held += grew;
    this.held += grew;
    if (grew <= 0) return;
    if (t.conn.held > this.limits.perConnectionBytes) {
      this.finish(t, { kind: "connection-bytes", held: t.conn.held, limit: this.limits.perConnectionBytes });
    } else if (this.held > this.limits.totalBytes) {
      this.finish(t, { kind: "total-bytes", held: this.held, limit: this.limits.totalBytes });
    }
  }

  private finish(t: Tracked, verdict: IncompleteVerdict): void {
    this.release(t);
    t.end(verdict);
  }

  /** The stream is over (or ended here): its bytes no longer count. */
  private release(t: Tracked): void {
    if (t.ended) return;
    t.ended = true;
    t.conn.held -= t.progress.held;
    this.held -= t.progress.held;
    this.streams.delete(t);
  }
}
