import { EventSchema, type Event } from "../gen/qingyu/events/v1/event_pb.js";
import { catalogEntryByCase, isEventType } from "../catalog/catalog.js";
import { checkMessage, type Violation } from "./check-message.js";

/** Options of {@link validateEvent}. */
export interface ValidateEventOptions {
  /**
   * Validate an event read back from the broker: `recorded_time` and `position` may then be set.
   * By default the event is checked as a producer publishes it, with both empty.
   * @defaultValue false
   */
  stored?: boolean;
}

/**
 * Checks an envelope against the catalog's rules, the same ones the broker enforces on publish:
 * the field rules declared in the .proto files (ids, formats, lengths, amounts, currencies, enums,
 * time order) and the envelope's own (known type, matching payload, known data version).
 *
 * @returns every violation with its field path; empty when the event is valid
 */
export function validateEvent(event: Event, options: ValidateEventOptions = {}): Violation[] {
  const out = checkMessage(EventSchema, event);
  const entry = catalogEntryByCase(event.payload.case);
  if (event.payload.case === undefined && (event.$unknown?.length ?? 0) > 0) {
    const numbers = event.$unknown?.map((u) => u.no).join(", ");
    replace(out, "payload", "oneof.unknown", `'payload' is a field unknown to this catalog (field ${numbers})`);
  }
  if (event.type !== "" && !isEventType(event.type)) {
    out.push({ path: "type", rule: "event.type_unknown", message: `'type' '${event.type}' is not in the catalog` });
  } else if (entry && event.type !== "" && event.type !== entry.type) {
    const message = `'type' is '${event.type}' but the payload '${entry.field.name}' is of type '${entry.type}'`;
    out.push({ path: "type", rule: "event.type_mismatch", message });
  }
  if (entry && event.dataVersion > entry.dataVersion) {
    const message = `'data_version' ${event.dataVersion} is newer than the catalog's ${entry.dataVersion} for '${entry.type}'`;
    out.push({ path: "data_version", rule: "event.data_version", message });
  }
  if (!options.stored) {
    if (event.recordedTime) out.push(brokerOwned("recorded_time"));
    if (event.position !== "") out.push(brokerOwned("position"));
  }
  return out;
}

function brokerOwned(path: string): Violation {
  return { path, rule: "event.broker_field", message: `'${path}' is set by the broker and must be empty` };
}

function replace(out: Violation[], path: string, rule: string, message: string): void {
  const i = out.findIndex((v) => v.path === path);
  const v = { path, rule, message };
  if (i >= 0) out[i] = v;
  else out.push(v);
}

/** Thrown by {@link assertValidEvent}; carries every violation. */
export class EventValidationError extends Error {
  override name = "EventValidationError";
  constructor(readonly violations: readonly Violation[]) {
    super(`invalid event: ${violations.map((v) => v.message).join("; ")}`);
  }
}

/**
 * {@link validateEvent}, throwing when anything is wrong.
 * @throws EventValidationError listing every violation
 */
export function assertValidEvent(event: Event, options: ValidateEventOptions = {}): void {
  const violations = validateEvent(event, options);
  if (violations.length > 0) throw new EventValidationError(violations);
}
