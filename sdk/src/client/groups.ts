import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { durationFromMs, timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  ConsumerGroupSchema,
  ConsumerGroupService,
  OrderingMode,
  type ConsumerGroup,
  type DeadLetter,
  type DeadLetterSelectorSchema,
  type GroupStats,
  type RetryPolicySchema,
} from "../gen/qingyu/broker/v1/groups_pb.js";
import type { EventType } from "../catalog/catalog.js";
import type { SubscriptionFilter } from "./filters.js";
import type { CallOptions, Rpc } from "./rpc.js";
import { toFilter } from "./filters.js";

/** A retry policy; every field has a default. */
export interface RetryOptions {
  /** @defaultValue 1000 */
  initialDelayMs?: number;
  /** @defaultValue 2 */
  multiplier?: number;
  /** @defaultValue 300000 */
  maxDelayMs?: number;
  /** Random spread, 0-1; 0 for none. @defaultValue 0.2 */
  jitter?: number;
  /** Attempts before the event is parked as a dead letter, 1-1000; 0 for no limit. @defaultValue 5 */
  maxAttempts?: number;
}

/** A consumer group as the SDK takes it. */
export interface GroupDefinition {
  /** 1-64 of [a-z0-9_-]. */
  name: string;
  filter?: SubscriptionFilter;
  /** Where a new group starts. @defaultValue "now" */
  start?: "now" | "beginning" | Date;
  /** @defaultValue 30000 */
  ackDeadlineMs?: number;
  retry?: RetryOptions;
  retryOverrides?: Partial<Record<EventType, RetryOptions>>;
  /** In order per subject or per correlation id, or no ordering. @defaultValue "none" */
  ordering?: "none" | "subject" | "correlation_id";
}

/** Which dead letters an action applies to. */
export type DeadLetterSelection = "all" | { positions: readonly string[] } | { filter: SubscriptionFilter };

const ORDERING = { none: OrderingMode.NONE, subject: OrderingMode.SUBJECT, correlation_id: OrderingMode.CORRELATION_ID } as const;

function policy(r: RetryOptions | undefined): MessageInitShape<typeof RetryPolicySchema> | undefined {
  if (!r) return undefined;
  return {
    ...(r.initialDelayMs === undefined ? {} : { initialDelay: durationFromMs(r.initialDelayMs) }),
    multiplier: r.multiplier ?? 0,
    ...(r.maxDelayMs === undefined ? {} : { maxDelay: durationFromMs(r.maxDelayMs) }),
    ...(r.jitter === undefined ? {} : { jitter: r.jitter }),
    ...(r.maxAttempts === undefined ? {} : { maxAttempts: r.maxAttempts }),
  };
}

function toGroup(d: GroupDefinition): ConsumerGroup {
  const start = d.start === "beginning" ? { case: "fromBeginning" as const, value: true } : d.start instanceof Date ? { case: "fromTime" as const, value: timestampFromDate(d.start) } : { case: "fromNow" as const, value: true };
  const retry = policy(d.retry);
  return create(ConsumerGroupSchema, {
    name: d.name,
    filter: toFilter(d.filter ?? {}),
    start: { start },
    ...(d.ackDeadlineMs === undefined ? {} : { ackDeadline: durationFromMs(d.ackDeadlineMs) }),
    ...(retry ? { retry } : {}),
    retryOverrides: Object.fromEntries(Object.entries(d.retryOverrides ?? {}).map(([t, r]) => [t, policy(r) ?? {}])),
    ordering: ORDERING[d.ordering ?? "none"],
  });
}

function selector(s: DeadLetterSelection): MessageInitShape<typeof DeadLetterSelectorSchema> {
  if (s === "all") return { select: { case: "all", value: true } };
  if ("positions" in s) return { select: { case: "positions", value: { positions: [...s.positions] } } };
  return { select: { case: "filter", value: toFilter(s.filter) } };
}

/** Consumer group administration. Reached as `client.groups`. */
export class GroupsClient {
  /** @internal */
  constructor(private readonly rpc: Rpc) {}

  /** @throws BrokerError ALREADY_EXISTS (GROUP_EXISTS), INVALID_ARGUMENT for a bad definition */
  async create(definition: GroupDefinition, opts: CallOptions = {}): Promise<ConsumerGroup> {
    return (await this.rpc.unary(ConsumerGroupService.method.createGroup, { group: toGroup(definition) }, opts)).group as ConsumerGroup;
  }

  /** Creates the group unless one of that name exists; returns the group in force. */
  async ensure(definition: GroupDefinition, opts: CallOptions = {}): Promise<ConsumerGroup> {
    try {
      return await this.create(definition, opts);
    } catch (err) {
      if ((err as { code?: number }).code !== 6) throw err;
      return (await this.get(definition.name, opts)).group;
    }
  }

  /** Changes filter, deadline, retry or ordering. @throws BrokerError NOT_FOUND (GROUP_NOT_FOUND) */
  async update(definition: GroupDefinition, opts: CallOptions = {}): Promise<ConsumerGroup> {
    return (await this.rpc.unary(ConsumerGroupService.method.updateGroup, { group: toGroup(definition) }, opts)).group as ConsumerGroup;
  }

  async delete(name: string, opts: CallOptions = {}): Promise<void> {
    await this.rpc.unary(ConsumerGroupService.method.deleteGroup, { name }, opts);
  }

  /** The group and its lag: backlog, oldest unacknowledged age, in flight, dead letters, members. */
  async get(name: string, opts: CallOptions = {}): Promise<{ group: ConsumerGroup; stats: GroupStats }> {
    const res = await this.rpc.unary(ConsumerGroupService.method.getGroup, { name }, opts);
    return { group: res.group as ConsumerGroup, stats: res.stats as GroupStats };
  }

  async list(opts: CallOptions = {}): Promise<ConsumerGroup[]> {
    return (await this.rpc.unary(ConsumerGroupService.method.listGroups, {}, opts)).groups;
  }

  /** Every dead letter of a group, page by page. */
  async *deadLetters(group: string, opts: CallOptions & { pageSize?: number } = {}): AsyncIterable<DeadLetter> {
    let pageToken = "";
    do {
      const res = await this.rpc.unary(ConsumerGroupService.method.listDeadLetters, { group, pageSize: opts.pageSize ?? 0, pageToken }, opts);
      yield* res.deadLetters;
      pageToken = res.nextPageToken;
    } while (pageToken !== "");
  }

  /** Puts dead letters back into the group with fresh attempts; returns how many. */
  async redrive(group: string, select: DeadLetterSelection, opts: CallOptions = {}): Promise<number> {
    return (await this.rpc.unary(ConsumerGroupService.method.redriveDeadLetters, { group, select: selector(select) }, opts)).count;
  }

  /** Deletes dead letters for good; returns how many. */
  async purge(group: string, select: DeadLetterSelection, opts: CallOptions = {}): Promise<number> {
    return (await this.rpc.unary(ConsumerGroupService.method.purgeDeadLetters, { group, select: selector(select) }, opts)).count;
  }
}
