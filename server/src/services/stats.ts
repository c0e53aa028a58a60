import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { GetBrokerStatsResponseSchema } from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import type { HandlerContext } from "./handler-context.js";
import type { EventStore } from "../store/event-store.js";

export interface StatsDeps {
  store: Pick<EventStore, "kind" | "sizeBytes">;
  bus: { readonly kind: string };
  /** Subscribe streams open now (what the broker_subscribers gauge shows). */
  subscribers: () => Promise<number>;
  startedAtMs: number;
}

/** GetBrokerStats: what an operator's overview shows about this broker. */
export function statsHandlers({ store, bus, subscribers, startedAtMs }: StatsDeps) {
  return {
    async getBrokerStats(_req: unknown, ctx: HandlerContext): Promise<MessageInitShape<typeof GetBrokerStatsResponseSchema>> {
      // A principal that may read nothing learns nothing about the broker either.
      if (!ctx.access.readsAnything) ctx.access.read(undefined);
      // why: a store that cannot tell its size (e.g. a MongoDB user without dbStats) still has the
      // other figures to show; its size is left unset, which clients show as unknown, never as 0 B.
      const size = await store.sizeBytes().catch(() => Number.NaN);
      return {
        store: store.kind,
        ...(Number.isFinite(size) && size >= 0 ? { storeSizeBytes: BigInt(Math.round(size)) } : {}),
        subscribers: await subscribers(),
        bus: bus.kind,
        startTime: timestampFromMs(startedAtMs),
      };
    },
  };
}
