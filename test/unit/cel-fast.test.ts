// The compiled fast path of `where` (cel-fast.ts, cel-wire.ts) against @bufbuild/cel: for
// randomized stored events of every domain (payload fields, nested oneofs, unset fields, int64 past
// 2^53, uint64, NaN, non-ASCII strings) and a corpus of expressions (handwritten, plus comparisons
// and has() generated for every scalar field of every payload type), each verdict and each counted
// evaluation error is the evaluator's. Bytes the fast path does not expect go to the evaluator.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { create, fromBinary, ScalarType, toBinary, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { eventCatalog, type Event } from "../../sdk/src/index.js";
import { EventSchema } from "../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { compileWhere, whereEvalErrors, type WhereSpec } from "../../server/src/cel/cel-where.js";
import { withSuffix } from "../../server/src/store/envelope-suffix.js";
import { prng } from "../helpers/prng.js";
import { sampleEvent } from "../helpers/sample-events.js";

const SEED = Number(process.env["WHERE_TEST_SEED"] ?? 17);
const random = prng(SEED);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
const STEP = Number(process.env["CUT_STEP"] ?? 7);
const NOW_MS = Date.UTC(2026, 0, 2, 4, 0, 0);
const now = timestampFromMs(NOW_MS);

const STRINGS = ["", "a", "b-hit", "b-1", "book/b-1", "book/b-12", "user/u1", "svc-a", "svc-b", "CNY", "USD", "书", "书店", "Zeta", "u1", "t1"];
const POOLS: Partial<Record<ScalarType, readonly unknown[]>> = {
  [ScalarType.STRING]: STRINGS,
  [ScalarType.BOOL]: [true, false],
  [ScalarType.INT32]: [0, 1, -1, 42, 5000, 2147483647],
  [ScalarType.SINT32]: [0, -1, 5000],
  [ScalarType.INT64]: [0n, 1n, -1n, 5000n, 5001n, 9007199254740993n, -9223372036854775808n, 9223372036854775807n],
  [ScalarType.SINT64]: [0n, -5000n, 9007199254740993n],
  [ScalarType.UINT32]: [0, 1, 5000, 4294967295],
  [ScalarType.UINT64]: [0n, 1n, 5000n, 9007199254740993n, 18446744073709551615n],
  [ScalarType.DOUBLE]: [0, -0, 1.5, 5000, NaN, Infinity, 9007199254740992],
  [ScalarType.FLOAT]: [0, 1.5, 5000, NaN],
};

/** Randomizes a message's singular fields in place: values from small pools, some fields unset. */
function randomize(m: Record<string, unknown>, desc: DescMessage, depth = 0): void {
  for (const o of desc.oneofs) {
    if (desc.typeName === EventSchema.typeName) continue; // the payload case stays the event's type
    const f = pick([undefined, ...o.fields]);
    m[o.localName] = f && valueFor(f, depth) !== undefined ? { case: f.localName, value: valueFor(f, depth) } : { case: undefined };
  }
  for (const f of desc.fields) {
    if (f.oneof || f.fieldKind === "list" || f.fieldKind === "map") continue;
    if (random() < 0.2) delete m[f.localName];
    else if (random() < 0.7) {
      const v = valueFor(f, depth);
      if (v !== undefined) m[f.localName] = v;
    }
  }
}

function valueFor(f: DescField, depth: number): unknown {
  if (f.fieldKind === "enum") return pick([0, 1, 2, 7]);
  if (f.fieldKind === "scalar") return pick(POOLS[f.scalar] ?? [undefined]);
  if (f.fieldKind !== "message") return undefined;
  if (f.message.typeName === "google.protobuf.Timestamp") return timestampFromMs(NOW_MS + pick([-7_200_000, -1_800_000, 0, 1, 3_600_000]));
  if (depth > 2 || f.message.typeName.startsWith("google.")) return undefined;
  const sub = create(f.message) as unknown as Record<string, unknown>;
  randomize(sub, f.message, depth + 1);
  return sub;
}

let made = 0;
function randomEvent(type: string): Event {
  const e = sampleEvent(type as never) as Event;
  e.id = `0190f5a0-8b2c-7d3e-9f40-${(made++).toString(16).padStart(12, "0")}`; // the bytes depend on the seed alone
  e.source = pick(["svc-a", "svc-b", "书"]);
  e.subject = pick(["book/b-1", "book/b-12", "user/u1", "", "书/1"]);
  e.metadata = pick([{}, { tenant: "t1" }, { tenant: "t2" }, { tenant: "t1", vip: "yes" }, { vip: "" }]);
  e.dataVersion = pick([0, 1, 2]);
  e.correlationId = pick(["", "flow-1"]);
  if (random() < 0.3) delete (e as { time?: unknown }).time;
  if (e.payload.value) randomize(e.payload.value as unknown as Record<string, unknown>, payloadDesc(e));
  return e;
}

function payloadDesc(e: Event): DescMessage {
  const f = EventSchema.fields.find((x) => x.localName === e.payload.case);
  if (f?.fieldKind !== "message") throw new Error(`no payload field for ${String(e.payload.case)}`);
  return f.message;
}

/** Bytes as the store keeps them: the producer's envelope, then recorded time and position. */
const stored = (e: Event, i: number): Uint8Array => withSuffix(toBinary(EventSchema, e), NOW_MS * 1000 - i, String(i + 1), e.time === undefined);

/** Handwritten: every operator of the subset, errors on each side of && and ||, mixed numbers. */
const CORPUS: (WhereSpec & { slow?: true })[] = [
  { expression: "event.source == 'svc-a'" },
  { expression: "event.source < 'svc-b' && event.source != '书'" },
  { expression: "event.source >= '书' || event.subject.startsWith('book/')" },
  { expression: "event.subject.endsWith('1') && !event.subject.contains('12')" },
  { expression: "event.type in ['comment.created', 'like.added', 'chapter.purchased']" },
  { expression: "!(event.type in ['comment.created'])" },
  { expression: "event.metadata['tenant'] == 't1'" },
  { expression: "!(event.metadata['tenant'] == 't1')" },
  { expression: "event.metadata['tenant'] == 't1' || event.source == 'svc-a'" },
  { expression: "event.metadata['tenant'] == 't1' && event.source == 'svc-b'" },
  { expression: "'vip' in event.metadata && event.metadata.vip == ''" },
  { expression: "has(event.metadata.vip) != ('tenant' in event.metadata)" },
  { expression: "event.data_version > 1u || event.data_version == 1.0" },
  { expression: "event.data_version >= 1 && event.data_version < 1.5" },
  { expression: "event.time > now - duration('1h')" },
  { expression: "event.time < timestamp('2026-01-02T03:30:00Z') || event.time == event.recorded_time" },
  { expression: "has(event.time) && event.recorded_time >= event.time" },
  { expression: "event.chapter_purchased.amount.minor_units > 5000" },
  { expression: "event.chapter_purchased.amount.minor_units > 5000.5 || event.chapter_purchased.amount.minor_units < -1.0" },
  { expression: "event.chapter_purchased.amount.minor_units == 9007199254740993" },
  { expression: "event.chapter_purchased.amount.minor_units <= 9007199254740992.0" },
  { expression: "event.chapter_purchased.amount.minor_units >= 9223372036854775807" },
  { expression: "has(event.chapter_purchased.amount) && !has(event.chapter_purchased.discount)" },
  { expression: "has(event.chapter_purchased) ? event.chapter_purchased.amount.currency_code == 'CNY' : event.source == 'svc-b'" },
  { expression: "event.comment_created.target_id == 'b-hit' || event.like_added.target_id == 'b-hit'" },
  { expression: "event.comment_created.target_id == 'b-hit' && event.like_added.target_id == 'b-hit'" },
  { expression: "dyn(event.source) == 'svc-a' && event.correlation_id != ''" },
  { expression: "event.subject == '' || event.subject > 'user'" },
  { expression: "event.config_changed.new_value.int_value > 5 || event.config_changed.new_value.double_value < 1.0" },
  { expression: "has(event.config_changed.new_value.string_value) && event.config_changed.new_value.string_value == ''" },
  { expression: "event.config_changed.new_value.bool_value == event.config_changed.old_value.bool_value" },
  { expression: "event.type == 'chapter.purchased' ? event.chapter_purchased.amount.minor_units > 100 : false" },
  { expression: "event.source in [event.subject, 'svc-a'] && event.source.startsWith(event.source)" },
  { expression: "payload.amount.minor_units > 100 && payload.amount.currency_code == 'CNY'", types: ["chapter.purchased"] },
  { expression: "has(payload.amount) || has(payload.discount)", types: ["chapter.purchased"] },
  { expression: "!has(payload.target_id) || payload.target_id.startsWith('b-')", types: ["comment.created"] },
  { expression: "[event.source, event.subject].exists(x, x == 'svc-a')", slow: true },
  { expression: "size(event.metadata) > 1", slow: true },
];

/** For every payload type, comparisons and has() of each singular scalar field, one level into messages. */
function generated(): WhereSpec[] {
  const out: WhereSpec[] = [];
  const literal = (f: DescField): string[] => {
    if (f.fieldKind === "enum") return ["1", "1.0"];
    switch (f.fieldKind === "scalar" ? f.scalar : undefined) {
      case ScalarType.STRING:
        return ["'b-hit'", "'书'", "''"];
      case ScalarType.BOOL:
        return ["true"];
      case ScalarType.UINT32:
      case ScalarType.UINT64:
        return ["5000u", "5000", "4294967295.0"];
      case ScalarType.DOUBLE:
      case ScalarType.FLOAT:
        return ["1.5", "5000"];
      default:
        return ["5000", "9007199254740993", "-1.5", "9007199254740992.0"];
    }
  };
  const fieldsOf = (m: DescMessage, path: string, depth: number): void => {
    for (const f of m.fields) {
      if (f.fieldKind === "scalar" || f.fieldKind === "enum") {
        const lits = literal(f);
        const ordered = f.fieldKind === "scalar" && f.scalar === ScalarType.BOOL ? "==" : pick(["<", "<=", ">", ">="]);
        out.push({ expression: `${path}.${f.name} == ${pick(lits)} || has(${path}.${f.name})` });
        out.push({ expression: `${path}.${f.name} ${ordered} ${pick(lits)}` });
      } else if (f.fieldKind === "message" && depth === 0 && !f.message.typeName.startsWith("google.")) {
        fieldsOf(f.message, `${path}.${f.name}`, 1);
      }
    }
  };
  for (const member of EventSchema.oneofs.find((o) => o.name === "payload")?.fields ?? []) {
    if (member.fieldKind === "message") fieldsOf(member.message, `event.${member.name}`, 0);
  }
  return out;
}

describe("the compiled fast path of where", () => {
  // Random events of every type, and chapter purchases with every int64 of the pool (past 2^53 too).
  const edges = (POOLS[ScalarType.INT64] ?? []).map((v) => {
    const e = randomEvent("chapter.purchased");
    const money = payloadDesc(e).fields.find((f) => f.name === "amount")?.message;
    if (!money) throw new Error("chapter.purchased has no amount");
    (e.payload.value as { amount?: unknown }).amount = create(money, { currencyCode: "CNY", minorUnits: v } as never);
    return e;
  });
  const events = [...eventCatalog().flatMap((c) => Array.from({ length: 4 }, () => randomEvent(c.type))), ...edges];
  const bytes = events.map(stored);

  let withNeedles = 0;
  /** The fast path's verdicts and error count on every event equal the evaluator's. */
  const compare = (spec: WhereSpec, expectFast: boolean): { matched: number; errors: number } => {
    const p = compileWhere(spec);
    assert.equal(p.fast, expectFast, `fast path for ${spec.expression}`);
    const e0 = whereEvalErrors();
    const want = bytes.map((b) => p.matchesSlowly(b, now));
    const errors = whereEvalErrors() - e0;
    const got = bytes.map((b) => p.matchesBytes(b, now));
    assert.equal(whereEvalErrors() - e0 - errors, errors, `errors counted for ${spec.expression}`);
    for (let i = 0; i < bytes.length; i++) {
      if (got[i] !== want[i]) assert.fail(`${spec.expression}: event ${i} (${events[i]?.type}) got ${got[i]}, @bufbuild/cel says ${want[i]}`);
      // A store skips rows without one of the needles unread: every match must have one.
      const b = Buffer.from(bytes[i] as Uint8Array);
      if (want[i] && p.needles && !p.needles.every((clause) => clause.some((n) => b.includes(Buffer.from(n))))) assert.fail(`${spec.expression}: event ${i} matches without its needles`);
    }
    if (p.needles) withNeedles++;
    return { matched: want.filter(Boolean).length, errors };
  };

  it("gives @bufbuild/cel's verdict for every handwritten expression and every event", () => {
    let matched = 0;
    let errors = 0;
    for (const spec of CORPUS) {
      const r = compare(spec, spec.slow !== true);
      matched += r.matched > 0 && r.matched < bytes.length ? 1 : 0;
      errors += r.errors > 0 ? 1 : 0;
    }
    // The corpus proves something only when most expressions split the events and many hit errors.
    assert.ok(matched >= CORPUS.length * 0.8, `${matched} of ${CORPUS.length} expressions split the events`);
    assert.ok(errors >= 10, `${errors} expressions had evaluation errors`);
    assert.ok(withNeedles >= 8, `${withNeedles} expressions name needles`);
    const utf8 = (x: string) => new TextEncoder().encode(x);
    assert.deepEqual(compileWhere({ expression: "event.comment_created.target_id == 'b-hit' && event.source != 'x'" }).needles, [[utf8("b-hit")]]);
    assert.deepEqual(compileWhere({ expression: "event.source == 'ab' && (event.subject == 'c' || event.type in ['de', 'fg'])" }).needles, [[utf8("ab")], [utf8("c"), utf8("de"), utf8("fg")]]);
    assert.equal(compileWhere({ expression: "event.source == 'svc-a' || event.data_version > 1u" }).needles, undefined);
  });

  it("gives @bufbuild/cel's verdict for comparisons of every scalar field of every payload type", () => {
    const specs = generated();
    assert.ok(specs.length > 300, `${specs.length} generated expressions`);
    let split = 0;
    for (const spec of specs) {
      const r = compare(spec, true);
      if (r.matched > 0) split++;
    }
    assert.ok(split > specs.length / 4, `${split} of ${specs.length} generated expressions matched some event`);
  });

  it("follows the last member of a oneof on the wire, read by the expression or not, as a full decode does", () => {
    // Producers' bytes are stored as sent: two envelopes in one (protobuf concatenation merges them)
    // carry an earlier payload member that the later one replaces, and a nested oneof likewise.
    const purchase = randomEvent("chapter.purchased");
    (purchase.payload.value as { amount: { minorUnits: bigint } }).amount.minorUnits = 10_000n;
    const comment = randomEvent("comment.created");
    const config = (value: object) => {
      const e = randomEvent("config.changed");
      (e.payload.value as { newValue?: unknown }).newValue = { $typeName: "qingyu.events.v1.ConfigValue", kind: value };
      return e;
    };
    const concat = (a: Uint8Array, b: Uint8Array) => Uint8Array.from([...a, ...b]);
    const cases = [
      concat(toBinary(EventSchema, purchase), stored(comment, 0)),
      concat(toBinary(EventSchema, config({ case: "intValue", value: 10n })), stored(config({ case: "stringValue", value: "x" }), 1)),
    ];
    const expressions = [
      "event.chapter_purchased.amount.minor_units > 5000",
      "has(event.chapter_purchased)",
      "!has(event.chapter_purchased) && event.source != 'zz'",
      "event.config_changed.new_value.int_value == 10",
      "event.config_changed.new_value.int_value == 0 && event.source != 'zz'",
      "has(event.config_changed.new_value.int_value)",
      "event.config_changed.new_value.string_value == 'x'",
    ];
    for (const expression of expressions) {
      const p = compileWhere({ expression });
      for (const [i, b] of cases.entries()) {
        const want = p.matches(fromBinary(EventSchema, b), now);
        assert.equal(p.matchesBytes(b, now), want, `${expression} on case ${i}: fast path`);
        assert.equal(p.matchesSlowly(b, now), want, `${expression} on case ${i}: pruned decode`);
      }
    }
  });

  it("leaves bytes it does not expect to @bufbuild/cel (truncated, bytes changed at random)", () => {
    const p = compileWhere({ expression: "event.source == 'svc-a' && event.comment_created.target_id != '' || event.metadata['tenant'] == 't1'" });
    const outcome = (f: () => boolean): string => {
      try {
        return String(f());
      } catch (err) {
        return `throws ${(err as Error).name}`;
      }
    };
    let differs = 0;
    for (const [i, b] of bytes.entries()) {
      const changed = Array.from({ length: 20 }, () => {
        const x = Uint8Array.from(b);
        for (let k = 0; k < 1 + Math.floor(random() * 3); k++) x[Math.floor(random() * x.length)] = Math.floor(random() * 256);
        return x;
      });
      const cut = Array.from({ length: Math.ceil(b.length / 7) }, (_, k) => b.subarray(0, k * 7));
      for (const x of [...changed, ...cut]) {
        const want = outcome(() => p.matchesSlowly(x, now));
        assert.equal(outcome(() => p.matchesBytes(x, now)), want, `event ${i}: ${Buffer.from(x).toString("hex")}`);
        if (want !== outcome(() => p.matchesSlowly(b, now))) differs++;
      }
    }
    assert.ok(differs > 1_000, `${differs} changed inputs had another outcome than their event`);
  });
});
