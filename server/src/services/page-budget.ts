// Responses that carry many stored items (a page of events, of dead letters) stay under the gRPC
// message limit: a page stops early, before the item that would not fit, and its token continues
// from there. Before, 17 events of 1 MiB made every default-size query of that type fail with a
// bare "Sent message larger than max".
import { tooLarge } from "../errors.js";

/** Bytes a response keeps for everything but its items: the page token, tags, gRPC framing. */
export const RESPONSE_OVERHEAD_BYTES = 1_024;
/** Bytes a repeated message field adds around each item: its tag and length. */
const ITEM_FRAMING_BYTES = 6;

/** Counts the items of one response against the message limit. */
export class PageBudget {
  private used = RESPONSE_OVERHEAD_BYTES;
  private items = 0;

  constructor(private readonly maxMessageBytes: number) {}

  /**
   * Counts an item of `bytes` if it fits and returns true; returns false when the page must stop
   * before it.
   * @throws DomainError TOO_LARGE when the item would not fit even alone (it was stored under a
   *   larger limit than the broker has now), naming it by `what`
   */
  take(bytes: number, what: string): boolean {
    const need = bytes + ITEM_FRAMING_BYTES;
    if (this.used + need <= this.maxMessageBytes) {
      this.used += need;
      this.items++;
      return true;
    }
    if (this.items === 0) throw tooLarge(`${what} in bytes, with its response,`, this.maxMessageBytes, this.used + need);
    return false;
  }
}

/** Throws TOO_LARGE when one item, sent as a message of its own, would pass the limit. */
export function assertFitsMessage(bytes: number, maxMessageBytes: number, what: string): void {
  new PageBudget(maxMessageBytes).take(bytes, what);
}
