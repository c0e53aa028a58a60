import { create } from "@bufbuild/protobuf";
import { durationFromMs, durationMs, timestampNow, type Duration } from "@bufbuild/protobuf/wkt";
import {
  ConsumerGroupSchema,
  OrderingMode,
  RetryPolicySchema,
  type ConsumerGroup,
  type RetryPolicy,
} from "../../../sdk/src/gen/qingyu/broker/v1/groups_pb.js";
import { isEventType } from "../../../sdk/src/catalog/catalog.js";
import { invalidRequest } from "../errors.js";
import { compileFilter } from "../log/filter.js";
import type { StoreFilter } from "../store/event-store.js";

export const DEFAULT_ACK_DEADLINE_MS = 30_000;
export const DEFAULT_RETRY = { initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 300_000, jitter: 0.2, maxAttempts: 5 } as const;
const NAME = /^[a-z0-9_-]{1,64}$/;
const MAX_DURATION_MS = 7 * 86_400_000;

/** A retry policy with every default applied. */
export interface Retry {
  initialDelayMs: number;
  multiplier: number;
  maxDelayMs: number;
  jitter: number;
  /** Infinity: no limit (0 in the proto). */
  maxAttempts: number;
}

/** A group's settings, validated and with defaults, as the runtime uses them. */
export interface GroupSettings {
  name: string;
  filter: StoreFilter;
  ackDeadlineMs: number;
  retry: Retry;
  retryOverrides: ReadonlyMap<string, Retry>;
  ordering: OrderingMode;
}

function ms(d: Duration | undefined, field: string, fallback: number): number {
  if (!d) return fallback;
  const v = durationMs(d);
  if (!(v > 0 && v <= MAX_DURATION_MS)) throw invalidRequest(field, "range", `'${field}' must be between 1ms and 7 days`);
  return v;
}

function retryOf(p: RetryPolicy | undefined, field: string): Retry {
  const r = {
    initialDelayMs: ms(p?.initialDelay, `${field}.initial_delay`, DEFAULT_RETRY.initialDelayMs),
    multiplier: p?.multiplier || DEFAULT_RETRY.multiplier,
    maxDelayMs: ms(p?.maxDelay, `${field}.max_delay`, DEFAULT_RETRY.maxDelayMs),
    // optional fields: unset takes the default, an explicit 0 means none / no limit.
    jitter: p?.jitter ?? DEFAULT_RETRY.jitter,
    maxAttempts: p?.maxAttempts === undefined ? DEFAULT_RETRY.maxAttempts : p.maxAttempts === 0 ? Number.POSITIVE_INFINITY : p.maxAttempts,
  };
  if (r.multiplier < 1 || r.multiplier > 100) throw invalidRequest(`${field}.multiplier`, "range", `'${field}.multiplier' must be 1-100`);
  if (!(r.jitter >= 0 && r.jitter <= 1)) throw invalidRequest(`${field}.jitter`, "range", `'${field}.jitter' must be 0-1`);
  if (r.maxAttempts < 1 || (r.maxAttempts > 1000 && r.maxAttempts !== Number.POSITIVE_INFINITY)) {
    throw invalidRequest(`${field}.max_attempts`, "range", `'${field}.max_attempts' must be 0 (no limit) or 1-1000`);
  }
  return r;
}

/**
 * Validates a group definition and applies the defaults.
 * @throws DomainError INVALID_REQUEST naming the bad field
 */
export function settingsOf(group: ConsumerGroup | undefined): GroupSettings {
  if (!group) throw invalidRequest("group", "required", "'group' is required");
  if (!NAME.test(group.name)) throw invalidRequest("group.name", "pattern", "'group.name' must be 1-64 of [a-z0-9_-]");
  const overrides = new Map<string, Retry>();
  for (const [type, p] of Object.entries(group.retryOverrides)) {
    if (!isEventType(type)) throw invalidRequest(`group.retry_overrides["${type}"]`, "event.type_unknown", `'group.retry_overrides' key '${type}' is not an event type of the catalog`);
    overrides.set(type, retryOf(p, `group.retry_overrides["${type}"]`));
  }
  return {
    name: group.name,
    filter: compileFilter(group.filter, "group.filter"),
    ackDeadlineMs: ms(group.ackDeadline, "group.ack_deadline", DEFAULT_ACK_DEADLINE_MS),
    retry: retryOf(group.retry, "group.retry"),
    retryOverrides: overrides,
    ordering: group.ordering === OrderingMode.UNSPECIFIED ? OrderingMode.NONE : group.ordering,
  };
}

/** The stored form of a group: defaults written out, so GetGroup shows what is in force. */
export function normalized(group: ConsumerGroup, settings: GroupSettings, createTime = timestampNow()): ConsumerGroup {
  const policy = (r: Retry) =>
    create(RetryPolicySchema, {
      initialDelay: durationFromMs(r.initialDelayMs),
      multiplier: r.multiplier,
      maxDelay: durationFromMs(r.maxDelayMs),
      jitter: r.jitter,
      maxAttempts: r.maxAttempts === Number.POSITIVE_INFINITY ? 0 : r.maxAttempts,
    });
  return create(ConsumerGroupSchema, {
    ...group,
    ackDeadline: durationFromMs(settings.ackDeadlineMs),
    retry: policy(settings.retry),
    retryOverrides: Object.fromEntries([...settings.retryOverrides].map(([t, r]) => [t, policy(r)])),
    ordering: settings.ordering,
    createTime,
    updateTime: timestampNow(),
  });
}

/**
 * Delay before the next attempt after `failures` failed ones: initial × multiplier^(failures-1),
 * capped, spread by ±jitter.
 */
export function backoffMs(retry: Retry, failures: number, random = Math.random): number {
  const base = Math.min(retry.maxDelayMs, retry.initialDelayMs * retry.multiplier ** Math.max(0, failures - 1));
  return Math.max(0, Math.round(base * (1 + retry.jitter * (2 * random() - 1))));
}
