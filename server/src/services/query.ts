import { createHash } from "node:crypto";
import { fromBinary } from "@bufbuild/protobuf";
import { EventSchema } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
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
import type { HandlerContext } from "./handler-context.js";
import type { EventStore, ReadLimits, ScanQuery, StoredEvent } from "../store/event-store.js";
import { decodePosition, encodePosition, isPosition } from "../store/position.js";
import { scanAhead } from "../store/scan-ahead.js";
import { scanWhereAhead } from "../store/where-scan.js";
import { messageWithField, queryEventsResponse } from "./encode.js";
import { assertFitsMessage, PageBudget } from "./page-budget.js";
import { compileFilter, timeBounds } from "./filter.js";

const ANY_UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1_000;
export const REPLAY_CHUNK = 512;
/** A CountEvents call with a `where` examines this many times a query page's events. */
const WHERE_COUNT_FACTOR = 10;

/** Events read from the store at a time while a page fills. */
export const PAGE_READ_CHUNK = 64;

export interface QueryDeps {
  store: EventStore;
  subjectPrefix: string;
  /** The gRPC message limit: a page of events stops before it. */
  maxMessageBytes: number;
  /** Events a QueryEvents page or a Replay read examines at most for a `where` before answering. */
  whereScanRows?: number;
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

function fingerprint(req: QueryEventsRequest | CountEventsRequest): string {
  const f = req.filter;
  const parts = [f?.types, f?.domains, f?.sources, f?.subject, f?.correlationId, req.fromTime?.seconds, req.fromTime?.nanos, req.toTime?.seconds, req.toTime?.nanos, "newestFirst" in req ? req.newestFirst : "count", f?.where];
  return createHash("sha256").update(JSON.stringify(parts, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).digest("base64url").slice(0, 16);
}

function writeToken(req: QueryEventsRequest | CountEventsRequest, position: string): string {
  return Buffer.from(JSON.stringify({ p: position, q: fingerprint(req) })).toString("base64url");
}

function readToken(req: QueryEventsRequest | CountEventsRequest): string | undefined {
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
export function queryHandlers({ store, subjectPrefix, maxMessageBytes, whereScanRows = 10_000 }: QueryDeps) {
  const eventTypes = eventCatalog().map((e) => ({
    type: e.type,
    domain: e.domain,
    messageName: e.schema.typeName,
    dataVersion: e.dataVersion,
    subject: eventSubject(e.type, { prefix: subjectPrefix }),
  }));

  return {
    async getEvent(req: GetEventRequest, ctx: HandlerContext) {
      if (req.id === "") throw invalidRequest("id", "required", "'id' is required");
      // Event ids are UUIDs (v7, checked at publish): anything else is a mistake, not a missing event.
      if (!ANY_UUID.test(req.id)) throw invalidRequest("id", "format", "'id' must be a UUID such as 0190f5a0-8b2c-7d3e-9f40-123456789abc");
      if (!ctx.access.readsAnything) ctx.access.read(undefined);
      const stored = await store.get(req.id);
      // An event the caller may not read is answered as absent: a denial would reveal that it exists.
      if (!stored || !ctx.access.mayRead(fromBinary(EventSchema, stored.data).type)) throw new DomainError(ErrorReason.EVENT_NOT_FOUND, `event '${clip(req.id)}' not found`);
      return messageWithField(1, stored.data);
    },

    async queryEvents(req: QueryEventsRequest, ctx: HandlerContext) {
      const filter = compileFilter(req.filter);
      ctx.access.read(filter.types);
      const bounds = timeBounds(req.fromTime, req.toTime);
      const limit = pageSize(req);
      const cursor = readToken(req);
      const query = {
        filter,
        ...bounds,
        newestFirst: req.newestFirst,
        ...(cursor === undefined ? {} : req.newestFirst ? { beforePosition: cursor } : { afterPosition: cursor }),
      };
      if (!filter.where) {
        const { rows, more } = await readPage(store, query, { limit, maxMessageBytes, read: readLimits(ctx) });
        const last = rows.at(-1);
        return queryEventsResponse(rows.map((r) => r.data), more && last ? writeToken(req, last.position) : "");
      }
      // With a `where`, a page reads a bounded stretch of the log: it may end short, even empty,
      // with a token that continues after the last event it examined.
      const found = await store.scanWhere({ ...query, limit: limit + 1, maxScanned: whereScanRows }, readLimits(ctx));
      const budget = new PageBudget(maxMessageBytes);
      const page: StoredEvent[] = [];
      for (const r of found.events) {
        if (page.length === limit || !budget.take(r.data.length, `event at position '${r.position}'`)) break;
        page.push(r);
      }
      const last = page.at(-1);
      const resume = page.length < found.events.length && last ? last.position : !found.done && found.scannedTo !== "" ? found.scannedTo : undefined;
      return queryEventsResponse(page.map((r) => r.data), resume === undefined ? "" : writeToken(req, resume));
    },

    async countEvents(req: CountEventsRequest, ctx: HandlerContext) {
      const filter = compileFilter(req.filter);
      ctx.access.read(filter.types);
      const bounds = timeBounds(req.fromTime, req.toTime);
      if (!filter.where) {
        if (req.pageToken !== "") throw invalidRequest("page_token", "page_token", "'page_token' is only used by counts with a 'filter.where'");
        return { count: BigInt(await store.count({ filter, ...bounds }, readLimits(ctx))), nextPageToken: "" };
      }
      const cursor = readToken(req);
      const scan = whereScanRows * WHERE_COUNT_FACTOR;
      const found = await store.scanWhere({ filter, ...bounds, limit: scan, maxScanned: scan, countOnly: true, ...(cursor === undefined ? {} : { afterPosition: cursor }) }, readLimits(ctx));
      const more = !found.done && found.scannedTo !== "";
      return { count: BigInt(found.matched), nextPageToken: more ? writeToken(req, found.scannedTo) : "" };
    },

    async *replay(req: ReplayRequest, ctx: HandlerContext): AsyncIterable<Uint8Array> {
      const filter = compileFilter(req.filter);
      ctx.access.read(filter.types);
      const bounds = timeBounds(req.fromTime, req.toTime);
      const after = afterPosition(req.afterPosition, "after_position");
      // Replay ends at the head as of its start, so a busy log cannot keep it running for ever.
      const head = await store.headPosition();
      if (head === "") return;
      const fitting = (r: StoredEvent) => {
        assertFitsMessage(r.data.length, maxMessageBytes, `event at position '${r.position}'`);
        return messageWithField(1, r.data);
      };
      const query = { filter, ...bounds, limit: REPLAY_CHUNK, ...(after === undefined ? {} : { afterPosition: after }), beforePosition: nextAfter(head) };
      if (filter.where) {
        for await (const page of scanWhereAhead(store, { ...query, maxScanned: whereScanRows }, ctx.signal)) for (const r of page.events) yield fitting(r);
        return;
      }
      for await (const rows of scanAhead(store, query, ctx.signal)) for (const r of rows) yield fitting(r);
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
