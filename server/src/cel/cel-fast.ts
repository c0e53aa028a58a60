// A compiled fast path for the common `where` expressions on stored bytes. @bufbuild/cel's
// evaluator costs 8-10 µs per event for one comparison (it builds reflection objects, converts
// every value, allocates an error object for every non-match), and the protobuf decode before it
// another 7 µs: far above what a reader thread can spend per event to scan 200,000 a second. For
// the subset below, the checked expression becomes plain JavaScript closures over the few fields
// read straight from the bytes (cel-wire.ts); anything else keeps @bufbuild/cel.
//
// The subset: field selection from `event` / `payload` along singular message fields, to scalars,
// enums, timestamps and map<string, scalar> keys (index or select with a constant key, `in`,
// has()); comparisons; &&, ||, !, ?:; `in` over a list; startsWith / endsWith / contains; dyn().
// Every subexpression that reads no event field (literals, `now - duration("1h")`) is evaluated
// once by @bufbuild/cel itself (again when `now` changes, if it reads `now`).
//
// The semantics are @bufbuild/cel 0.6's, operator by operator (see cel-values.ts for the values);
// a final value other than true is no match.
// - An unset field reads as its zero value, an unset message as the empty message, a missing map
//   key or a payload case the event does not carry as an error.
// The differential test (test/unit/cel-fast.test.ts) checks this against @bufbuild/cel.
import { plan, type CelEnv } from "@bufbuild/cel";
import { ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import type { Expr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { DurationSchema, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { plannable, WirePlan, WireReader, type MessagePlan } from "./cel-wire.js";
import { binary, compare, constantValue, equals, ERR, isNonZero, logic, ORDER, Stamp, STRING_METHODS, toV, UNBOUND, unary, Unsupported, UNSUPPORTED, zeroValue, type Fn, type Slots, type V } from "./cel-values.js";

/** FeatureSet_FieldPresence.IMPLICIT: proto3 scalars without `optional`. */
const IMPLICIT = 2;

/** A path to a message (not a value yet): where its fields land, and whether it can be reached. */
interface MessageRef {
  readonly desc: DescMessage;
  readonly plan: MessagePlan;
  readonly reach: (s: Slots) => true | typeof ERR | typeof UNBOUND;
}
/** A map<string, scalar> field reached by a path. */
interface MapRef {
  readonly map: DescField & { fieldKind: "map" };
  readonly parent: MessageRef;
}

export interface FastWhereOptions {
  readonly env: CelEnv;
  readonly event: DescMessage;
  /** The payload oneof's member `payload` is bound to, when the filter allows one type. */
  readonly payloadField?: DescField | undefined;
  /** Variables bound to folded literals (`@literalN`). */
  readonly constants: Record<string, unknown>;
}

/** The verdict on stored bytes: a match, none, an evaluation error, or undefined when @bufbuild/cel must decide. */
export type FastWhere = (data: Uint8Array, now: Timestamp) => boolean | "error" | undefined;

/** The fast path of a checked (and rewritten) expression, or undefined when it is outside the subset. */
export function compileFast(root: Expr, o: FastWhereOptions): { test: FastWhere; needles: Uint8Array[][] | undefined } | undefined {
  const c = new FastCompiler(o);
  let f: Fn;
  try {
    f = c.value(root);
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
  const utf8 = new TextEncoder();
  return { test: fastTest(c, f, o), needles: c.needles(root)?.map((clause) => clause.map((x) => utf8.encode(x))) };
}

function fastTest(c: FastCompiler, f: Fn, o: FastWhereOptions): FastWhere {
  const reader = new WireReader(c.wire);
  const consts: V[] = c.constants.map((k) => (k.readsNow ? UNSUPPORTED : k.value));
  const nowDependent = c.constants.filter((k) => k.readsNow);
  let seconds: bigint | undefined;
  let nanos = 0;
  return (data, now) => {
    if (nowDependent.length > 0 && (now.seconds !== seconds || now.nanos !== nanos)) {
      for (const k of nowDependent) consts[k.index] = toV(k.run({ ...o.constants, now }));
      seconds = now.seconds;
      nanos = now.nanos;
    }
    if (!reader.read(data)) return undefined;
    const v = f(reader.slots, consts);
    if (v === UNSUPPORTED) return undefined;
    return typeof v === "boolean" ? v : "error";
  };
}

interface Constant {
  readonly index: number;
  readonly readsNow: boolean;
  readonly value: V;
  readonly run: (vars: Record<string, unknown>) => unknown;
}

class FastCompiler {
  readonly wire = new WirePlan();
  readonly constants: Constant[] = [];
  private readonly root: MessageRef;

  constructor(private readonly o: FastWhereOptions) {
    this.root = { desc: o.event, plan: this.wire.root, reach: () => true };
  }

  value(e: Expr): Fn {
    if (!readsIdent(e, EVENT_IDENTS)) return this.constant(e);
    const k = e.exprKind;
    switch (k.case) {
      case "selectExpr":
        return k.value.testOnly ? this.has(e) : this.select(e);
      case "callExpr":
        return this.call(e);
      case "listExpr": {
        const elems = k.value.elements.map((x) => this.value(x));
        if (k.value.optionalIndices.length > 0) throw new Unsupported();
        return (s, c) => {
          const out: V[] = [];
          for (const x of elems) {
            const v = x(s, c);
            if (v === ERR || v === UNSUPPORTED) return v;
            out.push(v);
          }
          return out;
        };
      }
      default:
        throw new Unsupported();
    }
  }

  /** A subexpression that reads no event field: folded by @bufbuild/cel, once (or once per `now`). */
  private constant(e: Expr): Fn {
    const k = e.exprKind;
    if (k.case === "constExpr") {
      const v = toV(constantValue(k.value.constantKind));
      if (v === UNSUPPORTED) throw new Unsupported();
      return () => v;
    }
    const program = plan(this.o.env, e);
    const run = (vars: Record<string, unknown>) => program(vars as never);
    const readsNow = readsIdent(e, new Set(["now"]));
    const value = readsNow ? UNSUPPORTED : toV(run(this.o.constants));
    if (value === UNSUPPORTED && !readsNow) throw new Unsupported();
    const index = this.constants.length;
    this.constants.push({ index, readsNow, value, run });
    return (_s, c) => c[index] as V;
  }

  /** `x.f`: a scalar, an enum, a timestamp or a map key; messages only as a step of a longer path. */
  private select(e: Expr): Fn {
    if (e.exprKind.case !== "selectExpr" || !e.exprKind.value.operand) throw new Unsupported();
    const { operand, field } = e.exprKind.value;
    const map = this.mapRef(operand);
    if (map) return this.mapValue(map, field);
    return this.fieldValue(this.messageRef(operand), field);
  }

  private fieldValue(m: MessageRef, name: string): Fn {
    const f = fieldOf(m.desc, name);
    if (f.fieldKind === "scalar" || f.fieldKind === "enum") {
      const { slot } = this.wire.scalar(m.plan, f);
      const zero = zeroValue(f);
      return readValue(m, (s) => (s[slot] ?? zero) as V);
    }
    if (f.fieldKind === "message" && (f.message.typeName === TimestampSchema.typeName || f.message.typeName === DurationSchema.typeName)) {
      const kind = f.message.typeName === TimestampSchema.typeName ? "timestamp" : "duration";
      const sub = this.wire.message(m.plan, f).plan;
      const seconds = this.wire.scalar(sub, fieldOf(f.message, "seconds")).slot;
      const nanos = this.wire.scalar(sub, fieldOf(f.message, "nanos")).slot;
      return readValue(m, (s) => new Stamp(kind, (s[seconds] ?? 0) as number | bigint, (s[nanos] ?? 0) as number));
    }
    throw new Unsupported();
  }

  /** A message reached by `event`, `payload`, `@payload_case(event, "x")` and message fields. */
  private messageRef(e: Expr): MessageRef {
    const k = e.exprKind;
    if (k.case === "identExpr" && k.value.name === "event") return this.root;
    if (k.case === "identExpr" && k.value.name === "payload" && this.o.payloadField) return this.payloadCase(this.o.payloadField, UNBOUND);
    if (k.case === "callExpr" && k.value.function === "@payload_case" && !k.value.target) {
      const [operand, name] = k.value.args;
      const member = this.o.event.fields.find((f) => name?.exprKind.case === "constExpr" && f.name === name.exprKind.value.constantKind.value);
      if (operand?.exprKind.case !== "identExpr" || operand.exprKind.value.name !== "event" || !member) throw new Unsupported();
      return this.payloadCase(member, ERR);
    }
    if (k.case === "selectExpr" && !k.value.testOnly && k.value.operand) {
      const parent = this.messageRef(k.value.operand);
      const f = fieldOf(parent.desc, k.value.field);
      if (f.fieldKind !== "message" || f.message.file.proto.package.startsWith("google.protobuf")) throw new Unsupported();
      return { desc: f.message, plan: this.wire.message(parent.plan, f).plan, reach: parent.reach };
    }
    throw new Unsupported();
  }

  /** The payload member `f`, reachable only when the event carries that case. */
  private payloadCase(f: DescField, otherwise: typeof ERR | typeof UNBOUND): MessageRef {
    if (f.fieldKind !== "message" || !f.oneof) throw new Unsupported();
    const member = this.wire.message(this.wire.root, f);
    const caseSlot = this.wire.oneofSlot(this.wire.root, f.oneof);
    return { desc: f.message, plan: member.plan, reach: (s) => (s[caseSlot] === member ? true : otherwise) };
  }

  private mapRef(e: Expr): MapRef | undefined {
    const k = e.exprKind;
    if (k.case !== "selectExpr" || k.value.testOnly || !k.value.operand) return undefined;
    let parent: MessageRef;
    try {
      parent = this.messageRef(k.value.operand);
    } catch {
      return undefined;
    }
    const f = parent.desc.fields.find((x) => x.name === k.value.field);
    if (f?.fieldKind !== "map") return undefined;
    if (!plannable(parent.desc, f)) throw new Unsupported();
    return { map: f, parent };
  }

  /** The value under a constant key; a missing key is an error. */
  private mapValue(m: MapRef, key: string): Fn {
    const slot = this.wire.mapKey(m.parent.plan, m.map, key);
    return readValue(m.parent, (s) => (s[slot] === undefined ? ERR : (s[slot] as V)));
  }

  private mapHas(m: MapRef, key: string): Fn {
    const slot = this.wire.mapKey(m.parent.plan, m.map, key);
    const { reach } = m.parent;
    return (s) => {
      const r = reach(s);
      return r === true ? s[slot] !== undefined : r === UNBOUND ? false : ERR;
    };
  }

  /** has(x.f): presence as protobuf-es's isFieldSet sees it; an unbound `payload` has nothing. */
  private has(e: Expr): Fn {
    if (e.exprKind.case !== "selectExpr" || !e.exprKind.value.operand) throw new Unsupported();
    const { operand, field } = e.exprKind.value;
    const map = this.mapRef(operand);
    if (map) return this.mapHas(map, field);
    const m = this.messageRef(operand);
    const f = fieldOf(m.desc, field);
    let present: (s: Slots) => boolean;
    if (f.fieldKind === "message") {
      const { slot } = this.wire.message(m.plan, f);
      present = (s) => s[slot] !== undefined;
    } else if (f.fieldKind === "scalar" || f.fieldKind === "enum") {
      const { slot } = this.wire.scalar(m.plan, f);
      // Explicit presence (oneof members, `optional`): set at all; implicit: set to a non-zero value.
      const explicit = f.oneof !== undefined || f.presence !== IMPLICIT;
      present = explicit ? (s) => s[slot] !== undefined : (s) => isNonZero(s[slot]);
    } else {
      throw new Unsupported();
    }
    return (s) => {
      const r = m.reach(s);
      return r === true ? present(s) : r === UNBOUND ? false : ERR;
    };
  }

  /**
   * What the envelope's bytes must contain for the expression to be true, as clauses that must all
   * hold, each a set of strings one of which is there; undefined when nothing is known. A string
   * field equal to, starting with, ending with or containing a non-empty literal holds the
   * literal's UTF-8 bytes (an unset field reads as "", a decoded string equal to the literal was
   * those bytes, a byte-order mark aside). && needs the clauses of all its operands, || one of
   * them: the union of one clause of each (the one whose shortest string is longest: the rarest).
   */
  needles(e: Expr): string[][] | undefined {
    const k = e.exprKind;
    if (k.case !== "callExpr") return undefined;
    const { function: fn, target, args } = k.value;
    const [a, b] = args;
    if (fn === "_&&_") {
      const clauses = args.flatMap((x) => this.needles(x) ?? []);
      return clauses.length > 0 ? clauses : undefined;
    }
    if (fn === "_||_") {
      const rarity = (xs: string[]) => Math.min(...xs.map((x) => x.length));
      const best = args.map((x) => this.needles(x)?.sort((p, q) => rarity(q) - rarity(p))[0]);
      return best.every((x) => x !== undefined) ? [best.flat()] : undefined;
    }
    const clause = (xs: string[] | undefined) => (xs ? [xs] : undefined);
    if (fn === "_==_" && a && b) return clause(this.isStringRead(a) ? literals([b]) : this.isStringRead(b) ? literals([a]) : undefined);
    if (fn === "@in" && a && b?.exprKind.case === "listExpr" && this.isStringRead(a)) return clause(literals(b.exprKind.value.elements));
    if (target && a && STRING_METHODS[fn] && this.isStringRead(target)) return clause(literals([a]));
    return undefined;
  }

  /** A string read from the event: a string field, or a map<string, string> value. */
  private isStringRead(e: Expr): boolean {
    const k = e.exprKind;
    try {
      if (k.case === "selectExpr" && !k.value.testOnly && k.value.operand) {
        const map = this.mapRef(k.value.operand);
        if (map) return map.map.scalar === ScalarType.STRING;
        const f = fieldOf(this.messageRef(k.value.operand).desc, k.value.field);
        return f.fieldKind === "scalar" && f.scalar === ScalarType.STRING;
      }
      if (k.case === "callExpr" && k.value.function === "_[_]" && !k.value.target && k.value.args[0]) return this.mapRef(k.value.args[0])?.map.scalar === ScalarType.STRING;
    } catch (err) {
      if (err instanceof Unsupported) return false;
      throw err;
    }
    return false;
  }

  private call(e: Expr): Fn {
    if (e.exprKind.case !== "callExpr") throw new Unsupported();
    const { function: fn, target, args } = e.exprKind.value;
    if (fn === "_[_]" && !target) return this.index(args);
    if (fn === "@in" && !target) return this.membership(args);
    if (target) {
      const method = STRING_METHODS[fn];
      const [arg] = args;
      if (!method || !arg || args.length !== 1) throw new Unsupported();
      return binary(this.value(target), this.value(arg), (t, a) => (typeof t === "string" && typeof a === "string" ? method(t, a) : ERR));
    }
    const xs = args.map((x) => this.value(x));
    const [a, b, c] = xs;
    switch (fn) {
      case "_&&_":
        return logic(xs, false);
      case "_||_":
        return logic(xs, true);
      case "!_":
        return unary(a, (v) => (typeof v === "boolean" ? !v : ERR));
      case "dyn":
        return unary(a, (v) => v);
      case "_?_:_":
        if (!a || !b || !c) throw new Unsupported();
        return (s, k) => {
          const cond = a(s, k);
          return cond === true ? b(s, k) : cond === false ? c(s, k) : cond === UNSUPPORTED ? cond : ERR;
        };
      case "_==_":
        return binary(a, b, (x, y) => equals(x, y));
      case "_!=_":
        return binary(a, b, (x, y) => !equals(x, y));
    }
    const order = ORDER[fn];
    if (!order || xs.length !== 2) throw new Unsupported();
    return binary(a, b, (x, y) => compare(x, y, order));
  }

  /** `m[k]` on a map<string, scalar> with a constant key. */
  private index(args: Expr[]): Fn {
    const [operand, key] = args;
    const map = operand && this.mapRef(operand);
    if (!map || key?.exprKind.case !== "constExpr" || key.exprKind.value.constantKind.case !== "stringValue") throw new Unsupported();
    return this.mapValue(map, key.exprKind.value.constantKind.value);
  }

  /** `x in list`, or a constant string `in` a map<string, scalar>. */
  private membership(args: Expr[]): Fn {
    const [elem, container] = args;
    if (!elem || !container) throw new Unsupported();
    const map = this.mapRef(container);
    if (map) {
      if (elem.exprKind.case !== "constExpr" || elem.exprKind.value.constantKind.case !== "stringValue") throw new Unsupported();
      return this.mapHas(map, elem.exprKind.value.constantKind.value);
    }
    return binary(this.value(elem), this.value(container), (x, list) => (Array.isArray(list) ? list.some((v: V) => equals(v, x)) : ERR));
  }
}

const EVENT_IDENTS = new Set(["event", "payload"]);

/** Whether `e` names one of `names` (as a variable: a comprehension's own variables do not shadow ours). */
function readsIdent(e: Expr, names: ReadonlySet<string>): boolean {
  const k = e.exprKind;
  switch (k.case) {
    case "identExpr":
      return names.has(k.value.name);
    case "selectExpr":
      return k.value.operand !== undefined && readsIdent(k.value.operand, names);
    case "callExpr":
      return (k.value.target !== undefined && readsIdent(k.value.target, names)) || k.value.args.some((x) => readsIdent(x, names));
    case "listExpr":
      return k.value.elements.some((x) => readsIdent(x, names));
    case "structExpr":
      return k.value.entries.some((x) => (x.keyKind.case === "mapKey" && readsIdent(x.keyKind.value, names)) || (x.value !== undefined && readsIdent(x.value, names)));
    case "comprehensionExpr": {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].some((x) => x !== undefined && readsIdent(x, names));
    }
    default:
      return false;
  }
}

/** The values of string literals, all non-empty; undefined when any is not one. */
function literals(xs: Expr[]): string[] | undefined {
  const out: string[] = [];
  for (const x of xs) {
    const k = x.exprKind;
    if (k.case !== "constExpr" || k.value.constantKind.case !== "stringValue" || k.value.constantKind.value === "") return undefined;
    out.push(k.value.constantKind.value);
  }
  return out.length > 0 ? out : undefined;
}

function fieldOf(m: DescMessage, name: string): DescField {
  const f = m.fields.find((x) => x.name === name);
  if (!f || !plannable(m, f)) throw new Unsupported();
  return f;
}

/** Reads a value once its message is reachable. */
function readValue(m: MessageRef, read: (s: Slots) => V): Fn {
  return (s) => {
    const r = m.reach(s);
    return r === true ? read(s) : ERR;
  };
}
