// Where a committed event goes: metrics, the live hub (subscriptions and embedded consumer groups)
// and the bus (other replicas). Each listener fails alone: one that throws is logged and counted,
// and the others still get the events.
import type { Logger } from "pino";
import type { CommittedEvent } from "./store/group-commit.js";

export type CommitListener = (events: readonly CommittedEvent[]) => void;

export class CommitFanout {
  private readonly listeners: { readonly name: string; readonly fn: CommitListener }[] = [];

  constructor(
    private readonly log: Logger,
    /** Called with the listener's name each time one throws (for a metric). */
    private readonly onError: (listener: string) => void = () => undefined,
  ) {}

  /** Adds a listener; listeners run in the order they were added. */
  add(name: string, fn: CommitListener): this {
    this.listeners.push({ name, fn });
    return this;
  }

  /** Hands one commit's events, in position order, to every listener. */
  deliver(events: readonly CommittedEvent[]): void {
    for (const l of this.listeners) {
      try {
        l.fn(events);
      } catch (err) {
        this.log.error({ err, listener: l.name, events: events.length, position: events[0]?.position }, "commit listener failed");
        this.onError(l.name);
      }
    }
  }
}
