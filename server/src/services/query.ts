import { createHash } from "node:crypto";
import {
  type CountEventsRequest,
  type GetEventRequest,
  type QueryEventsRequest,
  type ReplayRequest,
} from "../../../sdk/src/gen/qingyu/broker/v1/broker_pb.js";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { eventCatalog } from "../../../sdk/src/catalog/catalog.js";
import { eventSubject } from "../../../sdk/src/catalog/subject.js";
import { clip } from "../clip.js";
import { DomainError, invalidRequest } from "../errors.js";
import type { HandlerContext } from "../grpc/bind.js";
import type { EventStore, ReadLimits, ScanQuery, StoredEvent } from "../store/event-store.js";
import { decodePosition, encodePosition, isPosition } from "../store/position.js";
import { scanAhead } from "../store/scan-ahead.js";
import { messageWithField, queryEventsResponse } from "./encode.js";
import { assertFitsMessage, PageBudget } from "./page-budget.js";
import { compileFilter, timeBounds } from "./filter.js";

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
export const REPLAY_CHUNK = 512;

/** Events read from the store at a time while a page fills. */
export const PAGE_READ_CHUNK = 64;

export interface QueryDeps {
  store: EventStore;
  subjectPrefix: string;
  /** The gRPC message limit: a page of events stops before it. */
  maxMessageBytes: number;
}

/**
 * A page token: a plain cursor, deliberately not signed (README, limits). Editing `p` only moves
 * the page within what the same query may read; rights are checked on every call.
 */
interface PageToken {
  /** Position of the last event returned. */
  p: string;
  /** Fingerprint of the query, so a token cannot be used with another one. */
  q: string;
}

function fingerprint(req: QueryEventsRequest): string {
  const f = req.filter;
  const parts = [f?.types, f?.domains, f?.sources, f?.subject, f?.correlationId, req.fromTime?.seconds, req.fromTime?.nanos, req.toTime?.seconds, req.toTime?.nanos, req.newestFirst];
  return createHash("sha256").update(JSON.stringify(parts, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).digest("base64url").slice(0, 16);
}

function readToken(req: QueryEventsRequest): string | undefined {
  if (req.pageToken === "") return undefined;
  let token: Partial<PageToken> | undefined;
  try {
    token = JSON.parse(Buffer.from(req.pageToken, "base64url").toString("utf8")) as Partial<PageToken>;
  } catch {
    token = undefined;
  }
  if (!token || typeof token.p !== "string" || !isPosition(token.p)) throw invalidRequest("page_token", "page_token", "'page_token' is not a token this broker issued");
  if (token.q !== fingerprint(req)) throw invalidRequest("page_token", "page_token", "'page_token' belongs to a query with another filter, range or order");
  return token.p;
}

function pageSize(req: QueryEventsRequest): number {
  if (req.pageSize < 0 || req.pageSize > MAX_PAGE_SIZE) {
    throw invalidRequest("page_size", "range", `'page_size' must be 0-${MAX_PAGE_SIZE}, got ${req.pageSize}`);
  }
  return req.pageSize === 0 ? DEFAULT_PAGE_SIZE : req.pageSize;
}

function afterPosition(position: string, field: string): string | undefined {
  if (position === "") return undefined;
  if (!isPosition(position)) throw invalidRequest(field, "position", `'${field}' is not a position this broker issued`);
  return position;
}

/**
 * One page: up to `limit` events that fit in a response, read a chunk at a time so that a page of
 * large events is never read whole. `more` says whether an event follows the page.
 */
async function readPage(
  store: EventStore,
  query: Omit<ScanQuery, "limit">,
  page: { limit: number; maxMessageBytes: number; read: ReadLimits },
): Promise<{ rows: StoredEvent[]; more: boolean }> {
  const { limit, maxMessageBytes } = page;
  const rows: StoredEvent[] = [];
  const budget = new PageBudget(maxMessageBytes);
  for (let range = query; ; ) {
    const want = Math.min(PAGE_READ_CHUNK, limit + 1 - rows.length);
    const chunk = await store.scan({ ...range, limit: want }, page.read);
    for (const r of chunk) {
      if (rows.length === limit || !budget.take(r.data.length, `event at position '${r.position}'`)) return { rows, more: true };
      rows.push(r);
    }
    const last = chunk.at(-1);
    if (!last || chunk.length < want) return { rows, more: false };
    range = query.newestFirst ? { ...query, beforePosition: last.position } : { ...query, afterPosition: last.position };
  }
}

/** The call's cancellation and deadline, so the store stops working for a caller that is gone. */
function readLimits(ctx: HandlerContext): ReadLimits {
  return { signal: ctx.signal, deadlineMs: ctx.deadline?.getTime() };
}

/** GetEvent, QueryEvents, CountEvents, Replay and ListEventTypes. */
export function queryHandlers({ store, subjectPrefix, maxMessageBytes }: QueryDeps) {
  const eventTypes = eventCatalog().map((e) => ({
    type: e.type,
    domain: e.domain,
    messageName: e.schema.typeName,
    dataVersion: e.dataVersion,
    subject: eventSubject(e.type, { prefix: subjectPrefix }),
  }));

  return {
    async getEvent(req: GetEventRequest) {
      if (req.id === "") throw invalidRequest("id", "required", "'id' is required");
      const stored = await store.get(req.id);
      if (!stored) throw new DomainError(ErrorReason.EVENT_NOT_FOUND, `event '${clip(req.id)}' not found`);
      return messageWithField(1, stored.data);
    },

    async queryEvents(req: QueryEventsRequest, ctx: HandlerContext) {
      const filter = compileFilter(req.filter);
      const bounds = timeBounds(req.fromTime, req.toTime);
      const limit = pageSize(req);
      const cursor = readToken(req);
      const query = {
        filter,
        ...bounds,
        newestFirst: req.newestFirst,
        ...(cursor === undefined ? {} : req.newestFirst ? { beforePosition: cursor } : { afterPosition: cursor }),
      };
      const { rows, more } = await readPage(store, query, { limit, maxMessageBytes, read: readLimits(ctx) });
      const last = rows.at(-1);
      const next = more && last ? Buffer.from(JSON.stringify({ p: last.position, q: fingerprint(req) })).toString("base64url") : "";
      return queryEventsResponse(rows.map((r) => r.data), next);
    },

    async countEvents(req: CountEventsRequest, ctx: HandlerContext) {
      const count = await store.count({ filter: compileFilter(req.filter), ...timeBounds(req.fromTime, req.toTime) }, readLimits(ctx));
      return { count: BigInt(count) };
    },

    async *replay(req: ReplayRequest, ctx: HandlerContext): AsyncIterable<Uint8Array> {
      const filter = compileFilter(req.filter);
      const bounds = timeBounds(req.fromTime, req.toTime);
      const after = afterPosition(req.afterPosition, "after_position");
      // Replay ends at the head as of its start, so a busy log cannot keep it running for ever.
      const head = await store.headPosition();
      if (head === "") return;
      const query = { filter, ...bounds, limit: REPLAY_CHUNK, ...(after === undefined ? {} : { afterPosition: after }), beforePosition: nextAfter(head) };
      for await (const rows of scanAhead(store, query, ctx.signal)) {
        for (const r of rows) {
          assertFitsMessage(r.data.length, maxMessageBytes, `event at position '${r.position}'`);
          yield messageWithField(1, r.data);
        }
      }
    },

    async listEventTypes() {
      return { eventTypes };
    },
  };
}

/** The position just after `p` (exclusive upper bounds include `p` itself). */
function nextAfter(p: string): string {
  return encodePosition((decodePosition(p) ?? 0n) + 1n);
}
