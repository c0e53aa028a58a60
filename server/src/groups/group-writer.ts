// What a consumer group's runtime writes to the store (attempt histories, dead letters, progress),
// gathered and written every few tens of milliseconds as one compare-and-set on its definition.
import type { Logger } from "pino";
import type { EventStore, KvWrite } from "../store/event-store.js";
import { groupKey } from "./group-records.js";

export interface WriterSource {
  readonly name: string;
  /** The definition's bytes the writes expect in the store. */
  definition(): Uint8Array;
  /** The feed's progress records, taken at each flush. */
  progress(): KvWrite[];
  /** The stored definition is no longer the expected one (changed or deleted elsewhere). */
  onStale(): void;
}

export class GroupWriter {
  private readonly writes = new Map<string, KvWrite>();
  private flushing: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    private readonly store: EventStore,
    private readonly log: Logger,
    private readonly source: WriterSource,
  ) {}

  /** A record to write with the next flush (a null value deletes); replaces one for the same key. */
  put(w: KvWrite): void {
    this.writes.set(w.key, w);
    this.dirty = true;
  }

  /** Progress moved: the next flush writes it even with no record put. */
  touch(): void {
    this.dirty = true;
  }

  /** Drops what was not written (the group is gone). */
  discard(): void {
    this.writes.clear();
  }

  /** Settles once the write under way (if any) is done. */
  settled(): Promise<void> {
    return this.flushing;
  }

  /**
   * Writes the records and progress, only while the stored definition is still the expected one:
   * progress never overwrites a definition, and a group deleted or changed on another replica gets
   * nothing written for its old definition.
   */
  async flush(): Promise<void> {
    const name = this.source.name;
    // Nothing new: still wait for a write under way (a timer's flush may have taken the last changes).
    if (!this.dirty && this.writes.size === 0) return this.flushing;
    await this.flushing;
    this.dirty = false;
    const batch = [...this.writes.values(), ...this.source.progress()];
    this.writes.clear();
    const keep = () => {
      for (const w of batch) if (!this.writes.has(w.key)) this.writes.set(w.key, w);
      this.dirty = true;
    };
    this.flushing = this.store.kvWrite(batch, { key: groupKey(name), value: this.source.definition() }).then(
      (written) => {
        if (written) return;
        // Kept: with the definition changed, the next flush writes them; with it deleted, they go with the runtime.
        keep();
        this.log.debug({ group: name }, "group definition changed in the store; progress waits for it");
        this.source.onStale();
      },
      (err: unknown) => {
        // why: progress not written is progress redone after a restart (at-least-once), not lost.
        this.log.warn({ err, group: name }, "group progress not saved; will retry");
        keep();
      },
    );
    await this.flushing;
  }
}
