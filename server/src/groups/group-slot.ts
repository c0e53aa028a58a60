// A consumer group as one broker holds it: its definition always, its runtime only while used.
import type { Logger } from "pino";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../errors.js";
import { settingsOf } from "./group-config.js";
import type { StoredGroup } from "./group-records.js";
import type { GroupRuntime } from "./group-runtime.js";

export const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

export function notFound(name: string): DomainError {
  return new DomainError(ErrorReason.GROUP_NOT_FOUND, `consumer group '${name}' not found`);
}

/** What a slot needs from the manager that holds it. */
export interface SlotHost {
  /** A runtime for the definition, started where the group left off. */
  resume(def: StoredGroup): Promise<GroupRuntime>;
  /** The slot is still the manager's for its name, and the manager is open. */
  holds(slot: GroupSlot): boolean;
  readonly idleMs: number;
  readonly log: Logger;
}

/**
 * A group this broker knows. Its runtime (window, members, timers, feed) is loaded when a member
 * joins or an admin call needs it, and put to rest (its state written, its window dropped) once it
 * has had no member and no unanswered delivery for `idleMs`: a group nobody consumes holds only
 * its definition.
 */
export class GroupSlot {
  runtime: GroupRuntime | undefined;
  private loading: Promise<GroupRuntime> | undefined;
  /** The runtime put to rest is writing its state; a new one waits for it. */
  closing: Promise<void> | undefined;
  /** Members and calls holding the runtime. */
  private users = 0;
  private idle: NodeJS.Timeout | undefined;
  /** The runtime being put to rest, until its state is written. */
  private resting: GroupRuntime | undefined;
  /** Redeliveries counted by runtimes put to rest (a counter must not go down). */
  private pastRedeliveries = 0;

  constructor(
    public def: StoredGroup,
    private readonly host: SlotHost,
    runtime?: GroupRuntime,
  ) {
    this.runtime = runtime;
  }

  get name(): string {
    return this.def.group.name;
  }

  get redeliveries(): number {
    return this.pastRedeliveries + (this.runtime?.redeliveries ?? 0);
  }

  /** The runtime, loaded (after a runtime put to rest finished writing) if it is not. */
  load(): Promise<GroupRuntime> {
    if (this.runtime) return Promise.resolve(this.runtime);
    this.loading ??= (async () => {
      await this.closing;
      const runtime = await this.host.resume(this.def);
      if (!this.host.holds(this)) {
        await runtime.close({ discard: true });
        throw notFound(this.name);
      }
      // Updated while it loaded.
      if (!sameBytes(runtime.stored.bytes, this.def.bytes)) runtime.update(this.def, settingsOf(this.def.group));
      this.runtime = runtime;
      if (this.users === 0) this.armIdle();
      return runtime;
    })().finally(() => (this.loading = undefined));
    return this.loading;
  }

  /** The runtime, loaded and held until `release`. */
  async acquire(): Promise<GroupRuntime> {
    this.users++;
    clearTimeout(this.idle);
    try {
      return await this.load();
    } catch (err) {
      this.release();
      throw err;
    }
  }

  release(): void {
    this.users--;
    if (this.users === 0) this.armIdle();
  }

  /**
   * Runs `use` with the runtime loaded and held. `brief`: a runtime loaded only for this goes back
   * to rest at once, not after `idleMs` (a metrics scrape or a GetGroup reads every group it names:
   * held, they would all stay loaded, with their timers, between scrapes).
   */
  async using<T>(use: (runtime: GroupRuntime) => Promise<T> | T, brief = false): Promise<T> {
    const wasLoaded = this.runtime !== undefined || this.loading !== undefined;
    const runtime = await this.acquire();
    try {
      return await use(runtime);
    } finally {
      this.release();
      if (brief && !wasLoaded && this.users === 0) {
        clearTimeout(this.idle);
        this.rest();
      }
    }
  }

  /** Puts the runtime to rest after `idleMs` unless it is used meanwhile. */
  armIdle(): void {
    clearTimeout(this.idle);
    if (!this.host.holds(this)) return;
    this.idle = setTimeout(() => this.rest(), this.host.idleMs);
    this.idle.unref();
  }

  /**
   * A new definition (updated here or on another replica). A runtime being put to rest gets it too:
   * its last write compares against the stored definition, and with the old one it would fail and
   * leave its progress, attempts and dead letters unwritten.
   */
  redefine(def: StoredGroup): void {
    this.def = def;
    const settings = settingsOf(def.group);
    this.runtime?.update(def, settings);
    this.resting?.update(def, settings);
  }

  /** Puts an idle runtime to rest: state written, window and feed dropped. */
  private rest(): void {
    this.idle = undefined;
    const runtime = this.runtime;
    if (!runtime || this.users > 0 || !this.host.holds(this)) return;
    // Deliveries of members that left wait for their deadline here, then count as attempts.
    if (!runtime.quiet) return this.armIdle();
    this.runtime = undefined;
    this.resting = runtime;
    this.pastRedeliveries += runtime.redeliveries;
    this.closing = runtime
      .close()
      .catch((err: unknown) => this.host.log.warn({ err, group: runtime.name }, "consumer group could not be put to rest cleanly"))
      .finally(() => {
        this.closing = undefined;
        this.resting = undefined;
      });
  }

  /** Stops the runtime without writing for it (the group is gone). */
  async discard(): Promise<void> {
    clearTimeout(this.idle);
    const runtime = this.runtime;
    this.runtime = undefined;
    await runtime?.close({ discard: true });
  }

  /** Stops the runtime, writing what is left (the broker stops). */
  async close(): Promise<void> {
    clearTimeout(this.idle);
    await this.loading?.catch(() => undefined);
    await this.runtime?.close();
    await this.closing;
  }
}
