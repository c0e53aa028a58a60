export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/** p50/p99/p99.9 of latencies in ms. */
export function latencySummary(values: number[]): { p50: number; p99: number; p999: number; n: number } {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p99: percentile(s, 99), p999: percentile(s, 99.9), n: s.length };
}

/** Prints one JSON result line: the orchestrator reads the last line a load process writes. */
export function report(result: Record<string, unknown>): void {
  const cpu = process.cpuUsage();
  process.stdout.write(`${JSON.stringify({ ...result, cpuUs: cpu.user + cpu.system })}\n`);
}

/** Arguments passed by the orchestrator as one JSON string. */
export function args<T>(): T {
  return JSON.parse(process.argv[2] ?? "{}") as T;
}
