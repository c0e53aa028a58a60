import { create } from "@bufbuild/protobuf";
import { EventFilterSchema, type EventFilter } from "../gen/qingyu/broker/v1/broker_pb.js";
import type { SubscriptionFilter } from "./client.js";

/** The wire filter of an SDK filter (values within a field OR, fields AND). */
export function toFilter(q: SubscriptionFilter): EventFilter {
  return create(EventFilterSchema, {
    types: [...(q.types ?? [])],
    domains: [...(q.domains ?? [])],
    sources: [...(q.sources ?? [])],
    subject: q.subject ?? "",
    correlationId: q.correlationId ?? "",
    where: q.where ?? "",
  });
}
