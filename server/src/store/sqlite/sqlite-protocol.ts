// Messages between the SQLite store (main thread) and its worker threads.
import type { KvEntry, KvWrite, NewEvent, ScanQuery, StoreRange } from "../event-store.js";

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
  | { op: "count"; range: StoreRange }
  | { op: "head" }
  | { op: "expire"; beforeUs: number }
  | { op: "checkpoint" }
  | { op: "ping" }
  | { op: "kvGet"; key: string }
  | { op: "kvScan"; prefix: string }
  | { op: "kvWrite"; entries: KvWrite[] }
  | { op: "close" }
);

/** Groups of events with all their bytes in one buffer, so they cross threads in one transfer. */
export interface PackedGroups {
  data: Uint8Array;
  /** Each event without its bytes, plus where its bytes end in `data`. */
  groups: (Omit<NewEvent, "bytes"> & { end: number })[][];
}

/** One appended event; `data` is sent back only for duplicates (the main thread rebuilds the rest). */
export interface WorkerAppended {
  position: string;
  recordedUs: number;
  duplicate: boolean;
  data?: Uint8Array;
}

export type WorkerGroupOutcome =
  | { ok: true; events: WorkerAppended[] }
  | { ok: false; conflict: { index: number; id: string; position: string } };

/** Rows packed into one buffer: row i is data[ends[i-1] .. ends[i]). */
export interface WorkerRows {
  data: Uint8Array;
  positions: string[];
  recordedUs: Float64Array;
  ends: Uint32Array;
}

export interface WorkerResponse {
  id: number;
  result?: WorkerGroupOutcome[] | WorkerRows | number | KvEntry[];
  error?: { code: string; message: string };
}
