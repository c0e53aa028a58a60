// Before/after: the rows two bench result files share (same section and metric), side by side.
// npx tsx bench/compare.ts bench/results/<before>.json bench/results/<after>.json
import { readFileSync } from "node:fs";

interface Row {
  section: string;
  metric: string;
  value: number;
  unit: string;
  runs?: number[];
  load?: string;
}

const [beforeFile, afterFile] = process.argv.slice(2);
if (!beforeFile || !afterFile) throw new Error("usage: compare.ts <before.json> <after.json>");
const read = (f: string) => (JSON.parse(readFileSync(f, "utf8")) as { rows: Row[] }).rows;
const fmt = (v: number) => (v >= 1000 ? Math.round(v).toLocaleString("en") : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const show = (r: Row) => (r.runs && r.runs.length > 1 ? `${fmt(r.value)} (${fmt(Math.min(...r.runs))}–${fmt(Math.max(...r.runs))})` : fmt(r.value));
const before = new Map(read(beforeFile).map((r) => [`${r.section}|${r.metric}`, r]));
console.log("| section | metric | before | after | after/before | load avg before / after |");
console.log("|---|---|---|---|---|---|");
for (const a of read(afterFile)) {
  const b = before.get(`${a.section}|${a.metric}`);
  if (!b) continue;
  console.log(`| ${a.section} | ${a.metric} | ${show(b)} ${b.unit} | ${show(a)} ${a.unit} | ${(a.value / b.value).toFixed(2)}× | ${b.load ?? "?"} / ${a.load ?? "?"} |`);
}
