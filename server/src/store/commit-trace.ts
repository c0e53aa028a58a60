// A diagnostic trace of the publish path (BROKER_COMMIT_TRACE=<file>): one line per store commit,
// per WAL checkpoint, per GC pause, and the main thread's event-loop delay per 50 ms, as NDJSON with
// times on the host's monotonic clock (monoMs), so that a benchmark can tell where a slow acknowledgement spent its time.
// Records are kept in memory and appended to the file twice a second; off by default.
import { appendFileSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { PerformanceObserver, monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import type { CheckpointTiming } from "./event-store.js";
import { monoMs, type CommitRecord } from "./group-commit.js";

const FLUSH_MS = 500;
const LOOP_WINDOW_MS = 50;

export class CommitTrace {
  private lines: string[] = [];
  private writing: Promise<void> = Promise.resolve();
  private readonly timers: NodeJS.Timeout[];
  private readonly gc: PerformanceObserver;
  private readonly loop: IntervalHistogram;

  constructor(private readonly file: string) {
    // GC entries are timed from this thread's performance origin; both clocks are hrtime.
    const origin = monoMs() - performance.now();
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) this.push({ k: "gc", s: origin + e.startTime, d: e.duration });
    });
    this.gc.observe({ entryTypes: ["gc"] });
    this.loop = monitorEventLoopDelay({ resolution: 1 });
    this.loop.enable();
    this.timers = [
      setInterval(() => {
        // max is in ns; the window ends now.
        if (this.loop.count > 0) this.push({ k: "loop", t: monoMs(), max: this.loop.max / 1e6 });
        this.loop.reset();
      }, LOOP_WINDOW_MS),
      setInterval(() => this.flush(), FLUSH_MS),
    ];
    for (const t of this.timers) t.unref();
    process.once("exit", this.writeRest);
  }

  commit(r: CommitRecord): void {
    this.push({ k: "c", ...r });
  }

  checkpoint(c: CheckpointTiming): void {
    this.push({ k: "cp", ...c });
  }

  private push(record: Record<string, unknown>): void {
    this.lines.push(JSON.stringify(record));
  }

  private flush(): void {
    if (this.lines.length === 0) return;
    const text = `${this.lines.join("\n")}\n`;
    this.lines = [];
    this.writing = this.writing.then(() => appendFile(this.file, text)).catch(() => undefined);
  }

  private readonly writeRest = (): void => {
    if (this.lines.length > 0) appendFileSync(this.file, `${this.lines.join("\n")}\n`);
    this.lines = [];
  };

  /** Stops recording and writes what is left. */
  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    process.off("exit", this.writeRest);
    this.gc.disconnect();
    this.loop.disable();
    await this.writing;
    this.writeRest();
  }
}
