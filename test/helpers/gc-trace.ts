// V8's `--trace-gc-nvp` lines, read back: one record per GC of every isolate (thread) of a process.
// Used by the test that a call's objects die young and by bench/gc-shape.ts.

export interface GcRecord {
  /** The isolate (thread) that collected. */
  isolate: string;
  /** "s" scavenge (young generation), "mc" mark-compact (full), "mmc" minor mark-compact. */
  kind: string;
  pause: number;
  /** Bytes allocated since the previous GC. */
  allocated: number;
  /** Bytes of young objects that survived this scavenge (copied, or promoted). */
  survived: number;
  /** Bytes moved to the old generation by this scavenge. */
  promoted: number;
}

/** The GCs in a process's standard output run with `--trace-gc --trace-gc-nvp`. */
export function parseGcTrace(text: string): GcRecord[] {
  const out: GcRecord[] = [];
  for (const line of text.split("\n")) {
    const head = /^\[\d+:(0x[0-9a-f]+)\]/.exec(line);
    if (!head || !line.includes(" pause=")) continue;
    const v = new Map(Array.from(line.matchAll(/ ([a-z_.]+)=(\S+)/g), (m) => [m[1] as string, m[2] as string]));
    out.push({
      isolate: head[1] as string,
      kind: v.get("gc") ?? "?",
      pause: Number(v.get("pause")),
      allocated: Number(v.get("allocated") ?? 0),
      survived: Number(v.get("new_space_survived") ?? 0),
      promoted: Number(v.get("promoted") ?? 0),
    });
  }
  return out;
}

/** The main thread's GCs: those of the isolate that allocated most (worker threads allocate little). */
export function mainThreadGcs(gcs: readonly GcRecord[]): GcRecord[] {
  const byIsolate = new Map<string, number>();
  for (const g of gcs) byIsolate.set(g.isolate, (byIsolate.get(g.isolate) ?? 0) + g.allocated);
  const main = [...byIsolate].sort((a, b) => b[1] - a[1])[0]?.[0];
  return gcs.filter((g) => g.isolate === main);
}
