// When the embedded store checkpoints its WAL. SQLite's own automatic checkpoint runs inside the
// commit that crosses its bound, so that commit's acknowledgement waits for it; and the store's
// earlier policy (a PASSIVE checkpoint from the reader thread every second) never finished under a
// steady load, since commits kept adding frames while it ran: the WAL then never started over and
// grew by tens of MiB a second, every commit appended to it (an fdatasync of a growing file must
// also journal its new size: several times slower on this project's disk than an overwrite), and
// each checkpoint had more to copy. This policy bounds the WAL instead: a checkpoint starts once
// about `maxWalFrames` pages were written since the last one (as SQLite's autocheckpoint, but
// outside the commits), or when commits have paused for `quietMs`, or at least every
// `maxIntervalMs` while anything is left.
import type { Clock } from "../../clock.js";

export interface CheckpointPolicyOptions {
  /** WAL pages (4 KiB) written since the last checkpoint that start one. */
  maxWalFrames: number;
  /** A pause of commits this long starts one. */
  quietMs: number;
  /** Longest time between checkpoints while frames wait. */
  maxIntervalMs: number;
}

export const DEFAULT_CHECKPOINT_POLICY: CheckpointPolicyOptions = { maxWalFrames: 1_000, quietMs: 100, maxIntervalMs: 1_000 };

/**
 * WAL pages one commit of `events` events writes, about: a leaf of the events table and of each of
 * its five indexes, the commits table and its index, the meta row (9 pages for a single event of
 * ~500 bytes, 108 for 100, 660 for 1,000; measured). Over-counting large commits only checkpoints
 * a little early.
 */
export function estimatedFrames(events: number): number {
  return 8 + events;
}

/** The bookkeeping of the policy; the store asks `due()` after each commit and on a timer. */
export class CheckpointPolicy {
  private frames = 0;
  private lastCommitAt: number;
  private lastCheckpointAt: number;
  private running = false;

  constructor(
    private readonly clock: Pick<Clock, "now">,
    private readonly options: CheckpointPolicyOptions = DEFAULT_CHECKPOINT_POLICY,
  ) {
    this.lastCommitAt = clock.now();
    this.lastCheckpointAt = clock.now();
  }

  /** WAL pages written since the last checkpoint started (estimated). */
  get pendingFrames(): number {
    return this.frames;
  }

  /** A commit of `events` events is durable. */
  committed(events: number): void {
    this.frames += estimatedFrames(events);
    this.lastCommitAt = this.clock.now();
  }

  /** Whether a checkpoint should start now: never while one runs, nor with nothing to copy. */
  due(): boolean {
    if (this.running || this.frames === 0) return false;
    const now = this.clock.now();
    return this.frames >= this.options.maxWalFrames || now - this.lastCommitAt >= this.options.quietMs || now - this.lastCheckpointAt >= this.options.maxIntervalMs;
  }

  /** A checkpoint starts: what was written so far is its to copy. */
  started(): void {
    this.running = true;
    this.frames = 0;
    this.lastCheckpointAt = this.clock.now();
  }

  /**
   * The checkpoint ended. `left`: frames it could not copy (a reader held an older snapshot, or it
   * failed), which stay due.
   */
  finished(left: number): void {
    this.running = false;
    this.frames += left;
  }
}
