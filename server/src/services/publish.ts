import type { MessageInitShape } from "@bufbuild/protobuf";
import {
  PublishStreamResponseSchema,
  type PublishBatchRequest,
  type PublishRequest,
  type PublishStreamRequest,
} from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import type { Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { invalidRequest, tooLarge } from "../errors.js";
import { toDomainError, toStatusMessage } from "../status.js";
import type { HandlerContext } from "./handler-context.js";
import type { Appended } from "../store/event-store.js";
import type { GroupCommitter } from "../store/group-commit.js";
import { publishAck } from "./encode.js";
import { Wire } from "./wire.js";
import { prepareEvent, type PrepareOptions } from "./prepare-event.js";
import { traceCommit, tracePublish } from "./publish-trace.js";

export const MAX_BATCH_EVENTS = 1_000;
/** Acknowledgements a PublishStream may owe before the broker stops reading its requests. */
export const MAX_STREAM_IN_FLIGHT = 8_192;

export interface PublishDeps {
  committer: GroupCommitter;
  limits: PrepareOptions;
  /** Counts publishes answered as duplicates. */
  onDuplicate?: () => void;
  /** Counts refused publish calls, by the type of the event refused (or the first of the batch). */
  onRejected?: (type: string, err: unknown) => void;
  /** NATS subject prefix, named on spans. @defaultValue "events" */
  subjectPrefix?: string;
}

function result(id: string, a: Appended): Uint8Array {
  return publishAck(id, a.position, a.duplicate, a.recordedUs);
}

function requireEvent(event: Event | undefined, field: string): Event {
  if (!event) throw invalidRequest(field, "required", `'${field}' is required`);
  return event;
}

type StreamAck = MessageInitShape<typeof PublishStreamResponseSchema> | Uint8Array;

/** Publish, PublishBatch and PublishStream. */
export function publishHandlers({ committer, limits, onDuplicate, onRejected, subjectPrefix = "events" }: PublishDeps) {
  /** Runs a publish call traced, counting it when refused. */
  async function publishCall<T>(events: readonly (Event | undefined)[], fn: () => Promise<T>): Promise<T> {
    try {
      return await tracePublish(events, subjectPrefix, fn);
    } catch (err) {
      const index = Number((err as { metadata?: Record<string, string> }).metadata?.["index"] ?? 0);
      onRejected?.(events[index]?.type ?? events[0]?.type ?? "", err);
      throw err;
    }
  }

  function publishOne(event: Event | undefined, ctx: HandlerContext): Promise<Uint8Array> {
    return publishCall([event], async () => {
      const ne = prepareEvent(requireEvent(event, "event"), limits);
      ctx.access.publish(ne.type, ne.source);
      const [appended] = await traceCommit(1, () => committer.submit([ne]));
      if (appended?.duplicate) onDuplicate?.();
      return result(ne.id, appended as Appended);
    });
  }

  async function ack(req: PublishStreamRequest, ctx: HandlerContext): Promise<StreamAck> {
    try {
      return await publishOne(req.event, ctx);
    } catch (err) {
      return { id: req.event?.id ?? "", error: toStatusMessage(toDomainError(err, ctx.log)) };
    }
  }

  return {
    publish: (req: PublishRequest, ctx: HandlerContext) => publishOne(req.event, ctx),

    async publishBatch(req: PublishBatchRequest, ctx: HandlerContext) {
      return publishCall(req.events, async () => {
        if (req.events.length === 0) throw invalidRequest("events", "required", "'events' is empty");
        if (req.events.length > MAX_BATCH_EVENTS) throw tooLarge("batch events", MAX_BATCH_EVENTS, req.events.length);
        const group = req.events.map((e, index) => prepareEvent(e, limits, { prefix: `events[${index}].`, index }));
        group.forEach((ne, index) => ctx.access.publish(ne.type, ne.source, { index: String(index) }));
        const appended = await traceCommit(group.length, () => committer.submit(group));
        const w = new Wire(appended.length * 80);
        appended.forEach((a, i) => w.bytes(1, result((group[i] ?? { id: "" }).id, a)));
        return w.finish();
      });
    },

    /**
     * Reads requests while acknowledgements are owed, up to MAX_STREAM_IN_FLIGHT, and answers them in
     * request order. A refused event is answered with its error; the stream goes on.
     */
    async *publishStream(reqs: AsyncIterable<PublishStreamRequest>, ctx: HandlerContext): AsyncIterable<StreamAck> {
      const owed: Promise<StreamAck>[] = [];
      let inputDone = false;
      let inputError: unknown;
      let wakeWriter: (() => void) | undefined;
      let wakeReader: (() => void) | undefined;
      const reader = (async () => {
        try {
          for await (const req of reqs) {
            if (ctx.signal.aborted) break;
            owed.push(ack(req, ctx));
            wakeWriter?.();
            while (owed.length >= MAX_STREAM_IN_FLIGHT && !ctx.signal.aborted) await new Promise<void>((r) => (wakeReader = r));
          }
        } catch (err) {
          inputError = err;
        } finally {
          inputDone = true;
          wakeWriter?.();
        }
      })();
      const onAbort = () => {
        wakeWriter?.();
        wakeReader?.();
      };
      ctx.signal.addEventListener("abort", onAbort, { once: true });
      // On abort (shutdown) the reader stops, but every acknowledgement owed is still sent: those
      // events were accepted and will be committed.
      for (;;) {
        const next = owed.shift();
        if (next) {
          wakeReader?.();
          yield await next;
        } else if (inputDone || ctx.signal.aborted) {
          break;
        } else {
          await new Promise<void>((r) => (wakeWriter = r));
        }
      }
      ctx.signal.removeEventListener("abort", onAbort);
      // An aborted call is ended by the binding; its request stream closes with it.
      if (ctx.signal.aborted) return;
      await reader;
      if (inputError !== undefined) throw inputError;
    },
  };
}
