// The values of the compiled fast path (cel-fast.ts) and CEL's operators on them, as @bufbuild/cel
// 0.6 has them (std/logic.js, equals.js, planner.js):
// - Integers (int and uint alike) are JS numbers when they are safe integers, bigints otherwise.
//   That loses nothing: `==` compares numbers and bigints by value as equals() does, and ordering
//   converts a bigint to a number only against a number, which is what the int/double overloads
//   do; against a safe integer the conversion cannot change the outcome (|bigint| >= 2^53 > |n|).
//   int and uint need no distinction: every operator here treats them alike by value.
// - An error is the value ERR; && and || absorb it when the other side decides (false / true), as
//   the evaluator does; every other operator passes it on.
import { isCelError, isCelList, isCelUint } from "@bufbuild/cel";
import { isMessage, ScalarType, type DescField } from "@bufbuild/protobuf";
import { isReflectMessage } from "@bufbuild/protobuf/reflect";
import { DurationSchema, TimestampSchema } from "@bufbuild/protobuf/wkt";
import { safe } from "./cel-wire.js";

/** Thrown while compiling: the expression is outside the fast path's subset. */
export class Unsupported extends Error {}

/** An evaluation error (a non-match at the end). */
export const ERR = Symbol("error");
/** `payload` when the event carries no payload of the filter's type: has() is false, a read an error. */
export const UNBOUND = Symbol("unbound");
/** A constant the fast path cannot represent: the event goes to @bufbuild/cel. */
export const UNSUPPORTED = Symbol("unsupported");

/** A timestamp or a duration. */
export class Stamp {
  constructor(
    readonly kind: "timestamp" | "duration",
    readonly seconds: number | bigint,
    readonly nanos: number,
  ) {}
}

export type V = boolean | number | bigint | string | null | Stamp | readonly V[] | typeof ERR | typeof UNSUPPORTED;
export type Slots = unknown[];
export type Fn = (s: Slots, c: readonly V[]) => V;

export function zeroValue(f: DescField): V {
  if (f.fieldKind === "enum") return 0;
  if (f.fieldKind !== "scalar") return null;
  switch (f.scalar) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return false;
    default:
      return 0;
  }
}

export function isNonZero(v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v === "string") return v !== "";
  if (typeof v === "boolean") return v;
  return v != 0; // NaN is set, -0 is not (protobuf-es's isScalarZeroValue compares with ==)
}

export function constantValue(k: { case: string | undefined; value?: unknown }): unknown {
  if (k.case === "uint64Value") return safe(k.value as bigint);
  if (k.case === "nullValue") return null;
  if (k.case === "bytesValue") return UNSUPPORTED;
  return k.value;
}

/** A value computed by @bufbuild/cel, in the fast path's representation. */
export function toV(v: unknown): V {
  switch (typeof v) {
    case "boolean":
    case "number":
    case "string":
      return v;
    case "bigint":
      return safe(v);
    case "symbol":
      return v === UNSUPPORTED ? UNSUPPORTED : ERR;
  }
  if (v === null) return null;
  if (isCelError(v)) return ERR;
  if (isCelUint(v)) return safe(v.value);
  if (isCelList(v)) {
    const out: V[] = [];
    for (const x of v) {
      const y = toV(x);
      if (y === UNSUPPORTED) return y;
      out.push(y);
    }
    return out;
  }
  const m = isReflectMessage(v) ? v.message : isMessage(v) ? v : undefined;
  if (m && (isMessage(m, TimestampSchema) || isMessage(m, DurationSchema))) {
    return new Stamp(isMessage(m, TimestampSchema) ? "timestamp" : "duration", safe(m.seconds), m.nanos);
  }
  return UNSUPPORTED;
}

/** CEL equality as equals.js has it, for the values above. */
export function equals(a: V, b: V): boolean {
  if (a === b) return true;
  const ta = typeof a;
  const tb = typeof b;
  if ((ta === "number" || ta === "bigint") && (tb === "number" || tb === "bigint")) return a == b;
  if (a instanceof Stamp) return b instanceof Stamp && a.kind === b.kind && a.seconds == b.seconds && a.nanos === b.nanos;
  if (Array.isArray(a)) return Array.isArray(b) && a.length === b.length && a.every((x: V, i) => equals(x, b[i] as V));
  return false;
}

export type Order = (sign: number) => boolean;
export const ORDER: Record<string, Order> = {
  "_<_": (x) => x < 0,
  "_<=_": (x) => x <= 0,
  "_>_": (x) => x > 0,
  "_>=_": (x) => x >= 0,
};

/**
 * Ordering with the std library's overloads: same-type scalars with JS operators, mixed numbers
 * through Number() (see the header), timestamps and durations by seconds then nanos; any other
 * pair has no overload (an error). NaN compares false both ways, as it does there.
 */
export function compare(a: V, b: V, order: Order): V {
  const ta = typeof a;
  const tb = typeof b;
  let x: number | bigint | string | boolean;
  let y: number | bigint | string | boolean;
  if (ta === tb && (ta === "number" || ta === "bigint" || ta === "string" || ta === "boolean")) {
    x = a as number;
    y = b as number;
  } else if ((ta === "number" && tb === "bigint") || (ta === "bigint" && tb === "number")) {
    x = Number(a);
    y = Number(b);
  } else if (a instanceof Stamp && b instanceof Stamp && a.kind === b.kind) {
    return order(a.seconds == b.seconds ? a.nanos - b.nanos : a.seconds < b.seconds ? -1 : 1);
  } else {
    return ERR;
  }
  return x < y ? order(-1) : x > y ? order(1) : x === y ? order(0) : false;
}

export const STRING_METHODS: Record<string, (t: string, a: string) => boolean> = {
  startsWith: (t, a) => t.startsWith(a),
  endsWith: (t, a) => t.endsWith(a),
  contains: (t, a) => t.includes(a),
};

export function unary(a: Fn | undefined, f: (v: V) => V): Fn {
  if (!a) throw new Unsupported();
  return (s, c) => {
    const v = a(s, c);
    return v === ERR || v === UNSUPPORTED ? v : f(v);
  };
}

/** Both operands first (an error in either is the result), then the operator. */
export function binary(a: Fn | undefined, b: Fn | undefined, f: (x: V, y: V) => V): Fn {
  if (!a || !b) throw new Unsupported();
  return (s, c) => {
    const x = a(s, c);
    if (x === ERR || x === UNSUPPORTED) return x;
    const y = b(s, c);
    if (y === ERR || y === UNSUPPORTED) return y;
    return f(x, y);
  };
}

/** && (decisive = false) and || (decisive = true): a decisive operand wins over errors. */
export function logic(xs: Fn[], decisive: boolean): Fn {
  return (s, c) => {
    let failed: V | undefined;
    for (const x of xs) {
      const v = x(s, c);
      if (v === decisive) return decisive;
      if (typeof v !== "boolean") failed = v === UNSUPPORTED || failed === UNSUPPORTED ? UNSUPPORTED : ERR;
    }
    return failed ?? !decisive;
  };
}
