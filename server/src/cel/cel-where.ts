// `EventFilter.where`: CEL expressions over what happened, compiled once per (expression, types)
// and evaluated wherever events are read (the hub for live events, the store's reader for history).
// A leaf module: the stores, the read side and the services all use it, it uses none of them.
import { celEnv, celFunc, CelScalar, isCelError, objectType, parse, plan, type CelType, type CelValue } from "@bufbuild/cel";
import type { Expr, ParsedExpr } from "@bufbuild/cel-spec/cel/expr/syntax_pb.js";
import { createRegistry, fromBinary, type DescField, type DescFile, type DescMessage } from "@bufbuild/protobuf";
import type { ReflectMessage } from "@bufbuild/protobuf/reflect";
import { timestampFromMs, TimestampSchema, type Timestamp } from "@bufbuild/protobuf/wkt";
import { eventCatalog } from "../../../sdk/src/catalog/catalog.js";
import { EventSchema, file_qingyu_events_v1_event, type Event } from "../../../sdk/src/gen/qingyu/events/v1/event_pb.js";
import { checkExpr, CelCheckError } from "./cel-check.js";
import { compileFast } from "./cel-fast.js";
import { emptyReadSet, prunedRegistry, readField, readWhole } from "./cel-prune.js";

/** Longest expression accepted, in characters. */
export const MAX_WHERE_CHARS = 2_048;
/** Highest estimated evaluation cost accepted, in steps (a field access or an operator is one). */
export const MAX_WHERE_COST = 20_000;
/** Compiled expressions kept for reuse (subscribers sharing an expression share its program). */
const CACHE_ENTRIES = 256;
/** The internal function payload case reads are rewritten to (`@` keeps it out of user syntax). */
const PAYLOAD_FN = "@payload_case";

/** What a `where` clause is checked against: the expression and the event types the filter allows. */
export interface WhereSpec {
  readonly expression: string;
  /** Types the rest of the filter lets through; undefined when it allows every type. */
  readonly types?: readonly string[] | undefined;
}

/** A mistake in an expression: where it is and what is wrong. */
export class WhereError extends Error {
  override name = "WhereError";
  constructor(
    readonly description: string,
    /** 0-based character offset into the expression. */
    readonly offset: number,
    readonly line: number,
    readonly column: number,
  ) {
    super(`${line}:${column}: ${description}`);
  }
}

const PAYLOAD_FIELDS = new Map<string, DescField>(EventSchema.oneofs.find((o) => o.name === "payload")?.fields.map((f) => [f.name, f]) ?? []);
const CASE_OF_TYPE = new Map<string, { field: DescField; schema: DescMessage }>();
for (const e of eventCatalog()) {
  const field = [...PAYLOAD_FIELDS.values()].find((f) => f.message?.typeName === e.schema.typeName);
  if (field) CASE_OF_TYPE.set(e.type, { field, schema: e.schema });
}
const TIMESTAMP = objectType(TimestampSchema);

/** Reading `event.<case>` for a case the event does not carry is an error, hence a non-match. */
const payloadCase = celFunc(PAYLOAD_FN, [objectType(EventSchema), CelScalar.STRING], CelScalar.DYN, (event, name) => {
  const m = (event as ReflectMessage).message as Event;
  const field = PAYLOAD_FIELDS.get(name);
  if (!field || m.payload.case !== field.localName) throw new Error(`the event carries no '${name}' payload`);
  return m.payload.value;
});

/** The catalog's files and every file they import, imports first: payloads live beside the envelope. */
function withImports(file: DescFile, seen = new Set<DescFile>()): DescFile[] {
  if (!seen.has(file)) {
    for (const d of file.dependencies) withImports(d, seen);
    seen.add(file);
  }
  return [...seen];
}
const FILES = withImports(file_qingyu_events_v1_event);
const baseEnv = celEnv({ registry: createRegistry(...FILES), funcs: [payloadCase] });

/** Evaluation errors seen in this thread since it started (a metric reads it). */
let evalErrors = 0;
export function whereEvalErrors(): number {
  return evalErrors;
}
/** Adds errors counted elsewhere (another thread) to this thread's count. */
export function addWhereEvalErrors(n: number): void {
  evalErrors += n;
}

function lineColumn(source: string, offset: number): { line: number; column: number } {
  const before = source.slice(0, offset).split("\n");
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

function whereError(source: string, offset: number, description: string): WhereError {
  const { line, column } = lineColumn(source, offset);
  return new WhereError(description, offset, line, column);
}

function parseWhere(source: string): ParsedExpr & { expr: Expr } {
  try {
    return parse(source);
  } catch (err) {
    // why: the parser reports a location (peggy) for syntax errors; a stack overflow and the
    // lexer's own checks (e.g. a surrogate escape) have none.
    const e = err as { rawMessage?: unknown; location?: { start?: { offset?: number } } };
    if (typeof e.rawMessage === "string") return failAt(source, e.location?.start?.offset ?? 0, `syntax error: ${e.rawMessage}`);
    if (err instanceof RangeError) return failAt(source, 0, "expression nests too deeply");
    return failAt(source, 0, `syntax error: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function failAt(source: string, offset: number, description: string): never {
  throw whereError(source, offset, description);
}

/** The globals a filter binds, given the types it allows. */
function globalsFor(types: readonly string[] | undefined): { globals: Map<string, CelType>; missing: Map<string, string>; only?: DescMessage } {
  const globals = new Map<string, CelType>([
    ["event", objectType(EventSchema)],
    ["now", TIMESTAMP],
  ]);
  const missing = new Map<string, string>();
  const only = types?.length === 1 ? CASE_OF_TYPE.get(types[0] ?? "")?.schema : undefined;
  if (only) globals.set("payload", objectType(only));
  else missing.set("payload", "'payload' is bound only when the filter's types and domains select exactly one event type; use event.<payload_case>");
  return { globals, missing, ...(only ? { only } : {}) };
}

/** A compiled `where`: test an event (decoded, or its stored bytes). */
export interface WhereProgram {
  readonly expression: string;
  /** True when the event matches; false when not, or when evaluating it failed (counted). */
  matches(event: Event, now?: Timestamp): boolean;
  /** {@link matches} on an encoded envelope. */
  matchesBytes(data: Uint8Array, now?: Timestamp): boolean;
  /** Whether matchesBytes takes the compiled fast path (cel-fast.ts) for this expression. */
  readonly fast: boolean;
  /**
   * What an envelope's bytes must contain to match: clauses that must all hold, each a set of byte
   * strings (UTF-8 of string literals the expression compares fields with) one of which is there;
   * undefined when nothing is known. A store may skip other rows unread.
   */
  readonly needles: readonly (readonly Uint8Array[])[] | undefined;
  /** matchesBytes through @bufbuild/cel alone: the reference the fast path is tested against. */
  matchesSlowly(data: Uint8Array, now?: Timestamp): boolean;
}

function compile(spec: WhereSpec): WhereProgram {
  const source = spec.expression;
  if (source.length > MAX_WHERE_CHARS) throw new WhereError(`the expression has ${source.length} characters, at most ${MAX_WHERE_CHARS} are allowed`, MAX_WHERE_CHARS, 1, MAX_WHERE_CHARS + 1);
  const parsed = parseWhere(source);
  const positions = parsed.sourceInfo?.positions ?? {};
  const allowed = spec.types && new Set(spec.types.map((t) => CASE_OF_TYPE.get(t)?.field.name));
  const { globals, missing, only } = globalsFor(spec.types);
  const guarded: Expr[] = [];
  const reads = emptyReadSet();
  const onlyCase = only && [...PAYLOAD_FIELDS.values()].find((f) => f.message?.typeName === only.typeName);
  if (onlyCase) readField(reads, EventSchema, onlyCase.name);
  let result;
  try {
    result = checkExpr(parsed.expr, {
      env: baseEnv,
      globals,
      missing,
      onWholeMessage: (message) => readWhole(reads, message),
      onSelect: (message, field, node) => {
        readField(reads, message, field.name);
        if (message.typeName !== EventSchema.typeName || !PAYLOAD_FIELDS.has(field.name)) return;
        if (allowed && !allowed.has(field.name)) throw new CelCheckError(`payload case '${field.name}' is excluded by the filter's types and domains`, node.id);
        if (node.exprKind.case === "selectExpr" && !node.exprKind.value.testOnly) guarded.push(node);
      },
    });
  } catch (err) {
    if (err instanceof CelCheckError) failAt(source, positions[err.exprId.toString()] ?? 0, err.message);
    throw err;
  }
  if (result.type !== CelScalar.BOOL && result.type !== CelScalar.DYN) failAt(source, 0, `the expression must be a bool, it is a ${result.type.toString()}`);
  if (result.cost > MAX_WHERE_COST) failAt(source, 0, `the expression may cost ${result.cost} steps per event, at most ${MAX_WHERE_COST} are allowed`);
  for (const node of guarded) rewriteToGuard(node);
  const constants = foldLiterals(parsed.expr, (node, description) => failAt(source, positions[node.id.toString()] ?? 0, description));
  // Stored events are decoded through descriptors that keep only what the expression reads.
  // Built on first use: an expression the fast path takes whole may never need them, and they
  // cost more to build (a registry of every file) than the rest of the compilation.
  let slowPath: { prunedEvent: DescMessage; run: ReturnType<typeof plan> } | undefined;
  const slowParts = () => {
    if (!slowPath) {
      const pruned = prunedRegistry(FILES, reads);
      slowPath = { prunedEvent: pruned.getMessage(EventSchema.typeName) ?? EventSchema, run: plan(celEnv({ registry: pruned, funcs: [payloadCase] }), parsed) };
    }
    return slowPath;
  };
  const test = (event: Event, now: Timestamp): boolean => {
    // `payload` is the filter's one type's payload, bound only when the event carries that case.
    const payload = onlyCase && event.payload.case === onlyCase.localName ? event.payload.value : undefined;
    const r = slowParts().run({ ...constants, event, now, ...(payload ? { payload } : {}) });
    if (r === true) return true;
    if (r !== false || isCelError(r)) evalErrors++;
    return false;
  };
  const slow = (data: Uint8Array, now: Timestamp) => test(fromBinary(slowParts().prunedEvent, data, { readUnknownFields: false }) as Event, now);
  // Stored bytes take the compiled fast path when the expression is in its subset (cel-fast.ts).
  const fast = compileFast(parsed.expr, { env: baseEnv, event: EventSchema, payloadField: onlyCase, constants });
  return {
    expression: source,
    fast: fast !== undefined,
    needles: fast?.needles,
    matches: (event, now = timestampFromMs(Date.now())) => test(event, now),
    matchesBytes: fast
      ? (data, now = timestampFromMs(Date.now())) => {
          const v = fast.test(data, now);
          if (v === undefined) return slow(data, now);
          if (v === "error") evalErrors++;
          return v === true;
        }
      : (data, now = timestampFromMs(Date.now())) => slow(data, now),
    matchesSlowly: (data, now = timestampFromMs(Date.now())) => slow(data, now),
  };
}

/** Literal conversions, folded into constants once. */
const FOLDED = new Set(["duration", "timestamp"]);

/**
 * `duration("1h")` and `timestamp("2026-01-01T00:00:00Z")` with a literal argument are evaluated
 * once, here: a malformed literal is a compile error with its position, not a failure per event,
 * and each evaluation skips the parsing (it cost more than the comparison). Each becomes a
 * variable (`@literalN`, a name CEL source cannot write) bound with the value.
 */
function foldLiterals(root: Expr, fail: (node: Expr, description: string) => never): Record<string, CelValue> {
  const values: Record<string, CelValue> = {};
  const visit = (node: Expr): void => {
    const k = node.exprKind;
    if (k.case === "callExpr" && !k.value.target && FOLDED.has(k.value.function) && k.value.args.length === 1 && k.value.args[0]?.exprKind.case === "constExpr") {
      const value = plan(baseEnv, node)();
      if (isCelError(value)) fail(node, `${k.value.function}() of an invalid literal: ${value.message}`);
      const name = `@literal${Object.keys(values).length}`;
      values[name] = value;
      node.exprKind = { case: "identExpr", value: { $typeName: "cel.expr.Expr.Ident", name } } as never;
      return;
    }
    for (const child of children(node)) visit(child);
  };
  visit(root);
  return values;
}

function children(node: Expr): Expr[] {
  const k = node.exprKind;
  switch (k.case) {
    case "selectExpr":
      return k.value.operand ? [k.value.operand] : [];
    case "callExpr":
      return [...(k.value.target ? [k.value.target] : []), ...k.value.args];
    case "listExpr":
      return k.value.elements;
    case "structExpr":
      return k.value.entries.flatMap((e) => [...(e.keyKind.case === "mapKey" ? [e.keyKind.value] : []), ...(e.value ? [e.value] : [])]);
    case "comprehensionExpr": {
      const c = k.value;
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].filter((x): x is Expr => x !== undefined);
    }
    default:
      return [];
  }
}

/** `event.<case>` becomes `@payload_case(event, "<case>")`, which fails for another case. */
function rewriteToGuard(node: Expr): void {
  if (node.exprKind.case !== "selectExpr" || !node.exprKind.value.operand) return;
  const { operand, field } = node.exprKind.value;
  const name = { $typeName: "cel.expr.Expr", id: 0n, exprKind: { case: "constExpr", value: { $typeName: "cel.expr.Constant", constantKind: { case: "stringValue", value: field } } } } as Expr;
  node.exprKind = { case: "callExpr", value: { $typeName: "cel.expr.Expr.Call", function: PAYLOAD_FN, args: [operand, name] } as never };
}

const cache = new Map<string, WhereProgram>();

/**
 * The program of a `where` clause, compiled on first use and shared after (LRU by insertion).
 * @throws WhereError with the position of the mistake
 */
export function compileWhere(spec: WhereSpec): WhereProgram {
  const key = `${spec.types?.join(",") ?? "*"}\n${spec.expression}`;
  let p = cache.get(key);
  if (p) {
    cache.delete(key);
  } else {
    p = compile(spec);
    if (cache.size >= CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  }
  cache.set(key, p);
  return p;
}
