// Messages between the SQLite store (main thread) and its worker threads.
import type { CheckpointTiming, CommitTiming, KvEntry, KvExpect, KvWrite, NewEvent, ScanQuery, StoreRange, WhereScanQuery } from "../event-store.js";

/** Events one expire step deletes: one transaction, then commits queued meanwhile go first. */
export const EXPIRE_CHUNK = 5_000;

export interface WorkerData {
  file: string;
  role: "writer" | "reader";
  sync: "full" | "normal";
  busyTimeoutMs: number;
}

export type WorkerRequest = { id: number } & (
  | { op: "append"; packed: PackedGroups }
  | { op: "get"; eventId: string }
  | { op: "scan"; query: ScanQuery }
  | { op: "scanWhere"; query: WhereScanQuery }
  | { op: "count"; range: StoreRange }
  | { op: "head" }
  | { op: "expire"; beforeUs: number }
  | { op: "checkpoint" }
  | { op: "ping" }
  | { op: "kvGet"; key: string }
  | { op: "kvScan"; prefix: string; after?: string | undefined; limit?: number | undefined }
  | { op: "kvKeys"; prefix: string; after?: string | undefined; limit?: number | undefined }
  | { op: "kvCount"; prefix: string }
  | { op: "kvWrite"; entries: KvWrite[]; expect?: KvExpect | undefined }
  | { op: "close" }
);

/**
 * Groups of events as flat columns, bytes in one buffer: arrays of strings and one transferred
 * buffer cross threads several times cheaper than arrays of objects (measured).
 */
export interface PackedGroups {
  data: Uint8Array;
  /** Where each event's bytes end in `data`. */
  ends: Uint32Array;
  /** Events per group. */
  sizes: Uint32Array;
  ids: string[];
  types: string[];
  sources: string[];
  subjects: string[];
  correlationIds: string[];
  fillTime: Uint8Array;
}

/** A duplicate of an already stored event: its stored form. */
export interface StoredDuplicate {
  index: number;
  recordedUs: number;
  data: Uint8Array;
}

/**
 * The outcome of one group: the sequence number of each event (a duplicate gets the stored
 * event's), which events were duplicates, and the stored form of duplicates of earlier commits.
 * New events share the commit's recorded time; the main thread rebuilds their bytes.
 */
export type WorkerGroupOutcome =
  | { ok: true; seqs: Float64Array; duplicate: Uint8Array; stored: StoredDuplicate[] }
  | { ok: false; conflict: { index: number; id: string; position: string } };

export interface WorkerAppendResult {
  recordedUs: number;
  groups: WorkerGroupOutcome[];
  timing: CommitTiming;
}

/** Rows packed into one buffer: row i is data[ends[i-1] .. ends[i]). */
export interface WorkerRows {
  data: Uint8Array;
  positions: string[];
  recordedUs: Float64Array;
  ends: Uint32Array;
}

/** A bounded `where` scan's matches (packed) and how far it read. */
export interface WorkerWherePage extends WorkerRows {
  matched: number;
  scannedTo: string;
  done: boolean;
  errors: number;
}

export interface WorkerResponse {
  id: number;
  result?: WorkerAppendResult | WorkerRows | WorkerWherePage | CheckpointTiming | number | KvEntry[] | string[];
  error?: { code: string; message: string };
}
