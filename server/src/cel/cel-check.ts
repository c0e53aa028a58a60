// A type checker for `where` expressions over our catalog. @bufbuild/cel 0.6 parses and evaluates
// but does not type-check (its checker covers constants and identifiers only), so a filter naming a
// field that does not exist would otherwise fail on every event, silently. This walks the parsed
// AST once, resolving fields against the protobuf descriptors and calls against the environment's
// own overload signatures, and estimates the worst-case evaluation cost.
import { CelScalar, listType, mapType, objectType, type CelEnv, type CelType } from "@bufbuild/cel";
import type { Constant, Expr, Expr_Comprehension, Expr_CreateStruct } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { getOption, hasOption, ScalarType, type DescField, type DescMessage } from "@bufbuild/protobuf";
import { rules as rulesOption } from "../../../sdk/src/gen/qingyu/events/v1/options_pb.js";

const { BOOL, INT, UINT, DOUBLE, STRING, BYTES, NULL, DYN } = CelScalar;
const TIMESTAMP_NAME = "google.protobuf.Timestamp";
const DURATION_NAME = "google.protobuf.Duration";
/** Nesting beyond this is refused (the evaluator recurses too). */
export const MAX_WHERE_DEPTH = 64;
/** Assumed size of a list or map whose schema sets no max_items. */
const UNBOUNDED_ITEMS = 1_000;

/** A mistake in an expression, at the expression node `exprId`. */
export class CelCheckError extends Error {
  override name = "CelCheckError";
  constructor(
    message: string,
    readonly exprId: bigint,
  ) {
    super(message);
  }
}

/** What the checker knows about a value: its type, and for lists and maps, how many items at most. */
interface Typed {
  readonly type: CelType;
  readonly cost: number;
  readonly items?: number;
}

export interface CheckOptions {
  env: CelEnv;
  /** Global variables and their types. */
  globals: ReadonlyMap<string, CelType>;
  /** Why a global is missing, for a better message (e.g. `payload` without one type). */
  missing?: ReadonlyMap<string, string>;
  /**
   * Called for every field selected on a message, with the select node; may throw a CelCheckError
   * to refuse it (e.g. a payload case the filter excludes).
   */
  onSelect?: (message: DescMessage, field: DescField, node: Expr) => void;
  /** Called for a message used as a value (compared, passed, listed), not just read from. */
  onWholeMessage?: (message: DescMessage) => void;
}

export interface CheckResult {
  readonly type: CelType;
  /** Estimated worst-case evaluation steps. */
  readonly cost: number;
}

const sameType = (a: CelType, b: CelType): boolean => a.toString() === b.toString();
const isDyn = (t: CelType): boolean => t.kind === "scalar" && t.scalar === "dyn";
const isNumeric = (t: CelType): boolean => t === INT || t === UINT || t === DOUBLE;

/** The CEL type of a protobuf field's value (element type for lists and maps handled by the caller). */
function scalarType(s: ScalarType): CelType {
  switch (s) {
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return DOUBLE;
    case ScalarType.UINT32:
    case ScalarType.UINT64:
    case ScalarType.FIXED32:
    case ScalarType.FIXED64:
      return UINT;
    case ScalarType.BOOL:
      return BOOL;
    case ScalarType.STRING:
      return STRING;
    case ScalarType.BYTES:
      return BYTES;
    default:
      return INT;
  }
}

function fieldValueType(f: DescField, kind: "scalar" | "enum" | "message"): CelType {
  if (kind === "enum") return INT;
  if (kind === "message" && f.message) return objectType(f.message);
  return scalarType(f.scalar ?? ScalarType.STRING);
}

function maxItems(f: DescField): number {
  if (!hasOption(f, rulesOption)) return UNBOUNDED_ITEMS;
  const max = getOption(f, rulesOption).maxItems;
  return max > 0 ? max : UNBOUNDED_ITEMS;
}

function fieldType(f: DescField): Typed {
  switch (f.fieldKind) {
    case "list":
      return { type: listType(fieldValueType(f, f.listKind) as never), cost: 1, items: maxItems(f) };
    case "map":
      return { type: mapType(scalarType(f.mapKey) as never, fieldValueType(f, f.mapKind)), cost: 1, items: maxItems(f) };
    case "enum":
      return { type: INT, cost: 1 };
    case "message":
      return { type: objectType(f.message), cost: 1 };
    default:
      return { type: scalarType(f.scalar), cost: 1 };
  }
}

function constType(c: Constant | undefined): CelType {
  switch (c?.constantKind.case) {
    case "boolValue":
      return BOOL;
    case "int64Value":
      return INT;
    case "uint64Value":
      return UINT;
    case "doubleValue":
      return DOUBLE;
    case "stringValue":
      return STRING;
    case "bytesValue":
      return BYTES;
    default:
      return NULL;
  }
}

/** Whether a value of type `arg` may be passed where `param` is declared. */
function assignable(arg: CelType, param: CelType): boolean {
  if (isDyn(param) || isDyn(arg)) return true;
  if (param.kind === "list" && arg.kind === "list") return assignable(arg.element, param.element);
  if (param.kind === "map" && arg.kind === "map") return assignable(arg.key, param.key) && assignable(arg.value, param.value);
  return sameType(arg, param);
}

/** Whether `==` (and `in`) may compare the two: same type, numbers, or anything with dyn or null. */
function comparable(a: CelType, b: CelType): boolean {
  if (isDyn(a) || isDyn(b) || sameType(a, b)) return true;
  if (isNumeric(a) && isNumeric(b)) return true;
  if (a === NULL || b === NULL) return a.kind === "object" || b.kind === "object";
  if (a.kind === b.kind && (a.kind === "list" || a.kind === "map")) return assignable(a, b);
  return false;
}

const joinType = (a: CelType, b: CelType): CelType => (sameType(a, b) ? a : DYN);

class Checker {
  private readonly scopes: Map<string, Typed>[] = [];
  private depth = 0;

  constructor(private readonly o: CheckOptions) {}

  check(e: Expr): Typed {
    if (++this.depth > MAX_WHERE_DEPTH) throw new CelCheckError(`expression nests deeper than ${MAX_WHERE_DEPTH} levels`, e.id);
    try {
      return this.checkKind(e);
    } finally {
      this.depth--;
    }
  }

  private checkKind(e: Expr): Typed {
    const k = e.exprKind;
    switch (k.case) {
      case "constExpr":
        return { type: constType(k.value), cost: 0 };
      case "identExpr":
        return this.ident(k.value.name, e.id);
      case "selectExpr": {
        if (!k.value.operand) throw new CelCheckError("incomplete field selection", e.id);
        return this.select(this.check(k.value.operand), k.value.field, k.value.testOnly, e);
      }
      case "callExpr": {
        const target = k.value.target && this.check(k.value.target);
        const args = k.value.args.map((a) => this.check(a));
        this.usedWhole(target, ...args);
        return this.call(k.value.function, target, args, e.id);
      }
      case "listExpr": {
        const elems = k.value.elements.map((x) => this.check(x));
        this.usedWhole(...elems);
        const elem = elems.reduce<CelType | undefined>((t, x) => (t === undefined ? x.type : joinType(t, x.type)), undefined) ?? DYN;
        return { type: listType(elem as never), cost: 1 + sum(elems), items: elems.length };
      }
      case "structExpr":
        return this.struct(k.value, e.id);
      case "comprehensionExpr":
        return this.comprehension(k.value, e.id);
      default:
        throw new CelCheckError("unsupported expression", e.id);
    }
  }

  private usedWhole(...xs: (Typed | undefined)[]): void {
    for (const x of xs) if (x?.type.kind === "object" && x.type.desc) this.o.onWholeMessage?.(x.type.desc);
  }

  private ident(name: string, id: bigint): Typed {
    for (let i = this.scopes.length - 1; i >= 0; i--) {
      const local = this.scopes[i]?.get(name);
      if (local) return { ...local, cost: 1 };
    }
    const global = this.o.globals.get(name);
    if (global) return { type: global, cost: 1 };
    throw new CelCheckError(this.o.missing?.get(name) ?? `undeclared reference to '${name}'`, id);
  }

  private select(operand: Typed, field: string, testOnly: boolean, e: Expr): Typed {
    const t = operand.type;
    const cost = operand.cost + 1;
    if (isDyn(t)) return { type: testOnly ? BOOL : DYN, cost };
    if (t.kind === "map") return { type: testOnly ? BOOL : t.value, cost };
    if (t.kind === "object" && t.desc && t.name !== TIMESTAMP_NAME && t.name !== DURATION_NAME) {
      const f = t.desc.fields.find((x) => x.name === field);
      if (!f) throw new CelCheckError(`no field '${field}' in '${t.name}'`, e.id);
      this.o.onSelect?.(t.desc, f, e);
      return testOnly ? { type: BOOL, cost } : { ...fieldType(f), cost };
    }
    throw new CelCheckError(`cannot select field '${field}' from a value of type '${t.toString()}'`, e.id);
  }

  private call(fn: string, target: Typed | undefined, args: Typed[], id: bigint): Typed {
    const cost = 1 + (target?.cost ?? 0) + sum(args);
    const [a, b, c] = args.map((x) => x.type);
    switch (fn) {
      case "_&&_":
      case "_||_":
        args.forEach((x) => this.expectBool(x.type, fn === "_&&_" ? "&&" : "||", id));
        return { type: BOOL, cost };
      case "@not_strictly_false":
        return { type: BOOL, cost };
      case "_?_:_":
        this.expectBool(a ?? DYN, "?:", id);
        return { type: joinType(b ?? DYN, c ?? DYN), cost };
      case "_==_":
      case "_!=_":
        if (!comparable(a ?? DYN, b ?? DYN)) throw new CelCheckError(`'${fn.slice(1, -1)}' cannot compare ${a?.toString()} with ${b?.toString()}`, id);
        return { type: BOOL, cost };
      case "@in":
        return this.membership(a ?? DYN, b ?? DYN, cost, id);
      case "_[_]":
        return this.index(a ?? DYN, b ?? DYN, cost, id);
      case "dyn":
        return { type: DYN, cost };
    }
    return this.overload(fn, target, args, cost, id);
  }

  private expectBool(t: CelType, op: string, id: bigint): void {
    if (t !== BOOL && !isDyn(t)) throw new CelCheckError(`'${op}' needs bool operands, got ${t.toString()}`, id);
  }

  private membership(elem: CelType, container: CelType, cost: number, id: bigint): Typed {
    const inner = container.kind === "list" ? container.element : container.kind === "map" ? container.key : isDyn(container) ? DYN : undefined;
    if (inner === undefined || !comparable(elem, inner)) throw new CelCheckError(`'in' cannot look for ${elem.toString()} in ${container.toString()}`, id);
    return { type: BOOL, cost };
  }

  private index(container: CelType, key: CelType, cost: number, id: bigint): Typed {
    if (isDyn(container)) return { type: DYN, cost };
    if (container.kind === "list" && (key === INT || key === UINT || isDyn(key))) return { type: container.element, cost };
    if (container.kind === "map" && comparable(key, container.key)) return { type: container.value, cost };
    throw new CelCheckError(`cannot index ${container.toString()} with ${key.toString()}`, id);
  }

  /** A call resolved against the environment's overloads (std library plus ours). */
  private overload(fn: string, target: Typed | undefined, args: Typed[], cost: number, id: bigint): Typed {
    const group = this.o.env.funcs.find(fn);
    const results: CelType[] = [];
    for (const f of group ?? []) {
      if ((f.target === undefined) !== (target === undefined) || f.arguments.length !== args.length) continue;
      if (target && f.target && !assignable(target.type, f.target)) continue;
      if (args.every((x, i) => assignable(x.type, f.arguments[i] ?? DYN))) results.push(f.result);
    }
    const shown = `${target ? `${target.type.toString()}.` : ""}${fn}(${args.map((x) => x.type.toString()).join(", ")})`;
    if (!group) throw new CelCheckError(`undeclared function '${fn}'`, id);
    const [first] = results;
    if (first === undefined) throw new CelCheckError(`no matching overload for ${shown}`, id);
    // Lists and strings scanned by a function cost their length; charge list sizes where known.
    const scanned = Math.max(target?.items ?? 0, ...args.map((x) => x.items ?? 0));
    return { type: results.every((r) => sameType(r, first)) ? first : DYN, cost: cost + scanned };
  }

  private struct(s: Expr_CreateStruct, id: bigint): Typed {
    if (s.messageName !== "") throw new CelCheckError(`creating messages ('${s.messageName}') is not supported in a filter`, id);
    let key: CelType | undefined;
    let value: CelType | undefined;
    let cost = 1;
    for (const entry of s.entries) {
      if (entry.keyKind.case !== "mapKey" || !entry.value) throw new CelCheckError("malformed map literal", entry.id);
      const k = this.check(entry.keyKind.value);
      const v = this.check(entry.value);
      this.usedWhole(k, v);
      key = key === undefined ? k.type : joinType(key, k.type);
      value = value === undefined ? v.type : joinType(value, v.type);
      cost += k.cost + v.cost;
    }
    return { type: mapType((key ?? DYN) as never, value ?? DYN), cost, items: s.entries.length };
  }

  private comprehension(c: Expr_Comprehension, id: bigint): Typed {
    if (!c.iterRange || !c.accuInit || !c.loopCondition || !c.loopStep || !c.result) throw new CelCheckError("malformed comprehension", id);
    const range = this.check(c.iterRange);
    const t = range.type;
    const elem = t.kind === "list" ? t.element : t.kind === "map" ? t.key : isDyn(t) ? DYN : undefined;
    if (elem === undefined) throw new CelCheckError(`cannot iterate over ${t.toString()}`, c.iterRange.id);
    const init = this.check(c.accuInit);
    const n = range.items ?? UNBOUNDED_ITEMS;
    this.scopes.push(new Map([[c.iterVar, { type: elem, cost: 1 }], [c.accuVar, { type: init.type, cost: 1, items: n }]]));
    try {
      const cond = this.check(c.loopCondition);
      const step = this.check(c.loopStep);
      const result = this.check(c.result);
      return { type: result.type, cost: range.cost + init.cost + n * (cond.cost + step.cost + 1) + result.cost, items: n };
    } finally {
      this.scopes.pop();
    }
  }
}

function sum(xs: readonly Typed[]): number {
  let s = 0;
  for (const x of xs) s += x.cost;
  return s;
}

/**
 * Type-checks a parsed expression and estimates its cost.
 * @throws CelCheckError naming the node that is wrong
 */
export function checkExpr(expr: Expr, options: CheckOptions): CheckResult {
  const { type, cost } = new Checker(options).check(expr);
  return { type, cost };
}
