import { create, getOption, hasOption, ScalarType, type DescField, type DescMessage, type DescOneof } from "@bufbuild/protobuf";
import { FieldRulesSchema, message_rules, oneof_rules, rules as rulesOption, type FieldRules } from "../gen/qingyu/events/v1/options_pb.js";
import { FORMAT_CHECKS } from "./formats.js";

/** One broken rule: where (proto field path, e.g. `like_added.user_id`), which rule, and why. */
export interface Violation {
  /** Path of the field in proto names: `like_added.user_id`, `channels[1]`, `metadata["k"]`. */
  readonly path: string;
  /** Id of the broken rule, e.g. `required`, `string.max_len`, `format`, `timestamp.after`. */
  readonly rule: string;
  /** A lower-case sentence naming the field and what it must be. */
  readonly message: string;
}

type Msg = Record<string, unknown>;
/** Checks one message (at `path`) and appends what it finds. Plans are compiled once per type. */
type Check = (msg: Msg, path: string, out: Violation[]) => void;
/** Checks one value (a field, a list element, a map key or value). */
type ValueCheck = (value: unknown, path: string, out: Violation[]) => void;

const TIMESTAMP = "google.protobuf.Timestamp";
const MONEY = "qingyu.events.v1.Money";
// RFC 3339 range that protobuf's Timestamp allows: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const MIN_SECONDS = -62135596800n;
const MAX_SECONDS = 253402300799n;
const NO_RULES: FieldRules = create(FieldRulesSchema);

const plans = new WeakMap<DescMessage, Check[]>();

/**
 * Checks a message against the `(qingyu.events.v1.rules)` of its fields, recursively, plus the
 * rules every field has (declared enum values, in-range timestamps).
 *
 * @param path prefix for violation paths ("" at the root)
 * @returns every violation found, in field order (empty when the message is valid)
 */
export function checkMessage(schema: DescMessage, message: object, path = "", out: Violation[] = []): Violation[] {
  for (const check of planOf(schema)) check(message as Msg, path, out);
  return out;
}

function planOf(schema: DescMessage): Check[] {
  let plan = plans.get(schema);
  if (plan === undefined) {
    plan = []; // registered before compiling, so recursive message types terminate
    plans.set(schema, plan);
    plan.push(...compilePlan(schema));
  }
  return plan;
}

function compilePlan(schema: DescMessage): Check[] {
  const checks: Check[] = [];
  for (const field of schema.fields) {
    const check = field.oneof ? oneofMemberCheck(field, field.oneof) : fieldCheck(schema, field);
    if (check) checks.push(check);
  }
  for (const oneof of schema.oneofs) {
    if (hasOption(oneof, oneof_rules) && getOption(oneof, oneof_rules).required) checks.push(requiredOneof(oneof));
  }
  if (hasOption(schema, message_rules) && getOption(schema, message_rules).sameCurrency) {
    checks.push(sameCurrency(schema.fields.filter((f) => f.fieldKind === "message" && f.message.typeName === MONEY)));
  }
  return checks;
}

const join = (path: string, name: string): string => (path === "" ? name : `${path}.${name}`);

function rulesOf(field: DescField): FieldRules {
  return hasOption(field, rulesOption) ? getOption(field, rulesOption) : NO_RULES;
}

function fieldCheck(schema: DescMessage, field: DescField): Check | undefined {
  const rules = rulesOf(field);
  const { name, localName } = field;
  switch (field.fieldKind) {
    case "scalar":
      return wrap(scalarCheck(field.scalar, rules), name, localName);
    case "enum":
      return wrap(enumCheck(field.enum.values.map((v) => v.number), rules), name, localName);
    case "message":
      return messageFieldCheck(schema, field, field.message, rules);
    case "list":
      return listCheck(field, rules);
    case "map":
      return mapCheck(field, rules);
  }
}

function wrap(check: ValueCheck | undefined, name: string, localName: string): Check | undefined {
  return check && ((m, path, out) => check(m[localName], join(path, name), out));
}

function oneofMemberCheck(field: DescField, oneof: DescOneof): Check | undefined {
  const inner =
    field.fieldKind === "message"
      ? messageValueCheck(field.message, NO_RULES)
      : field.fieldKind === "enum"
        ? enumCheck(field.enum.values.map((v) => v.number), rulesOf(field))
        : field.fieldKind === "scalar"
          ? scalarCheck(field.scalar, rulesOf(field))
          : undefined;
  if (!inner) return undefined;
  return (m, path, out) => {
    const selected = m[oneof.localName] as { case?: string; value?: unknown };
    if (selected.case === field.localName) inner(selected.value, join(path, field.name), out);
  };
}

function requiredOneof(oneof: DescOneof): Check {
  return (m, path, out) => {
    if ((m[oneof.localName] as { case?: string }).case === undefined) {
      const p = join(path, oneof.name);
      out.push({ path: p, rule: "oneof.required", message: `'${p}' must be set` });
    }
  };
}

function violation(out: Violation[], path: string, rule: string, what: string): void {
  out.push({ path, rule, message: `'${path}' ${what}` });
}

function scalarCheck(scalar: ScalarType, rules: FieldRules): ValueCheck | undefined {
  if (scalar === ScalarType.STRING) return stringCheck(rules);
  if (scalar === ScalarType.BYTES || scalar === ScalarType.BOOL) {
    // No rule is defined for these kinds; fail at compile time rather than ignore one silently.
    if (describesAnyRule(rules)) throw new Error(`rules on ${ScalarType[scalar].toLowerCase()} fields are not supported`);
    return undefined;
  }
  return numberCheck(rules);
}

function describesAnyRule(rules: FieldRules): boolean {
  return rules.required || rules.maxLen > 0 || rules.pattern !== "" || rules.format !== 0 || rules.gte !== undefined || rules.lte !== undefined;
}

function stringCheck(rules: FieldRules): ValueCheck | undefined {
  const { required, maxLen, pattern } = rules;
  const format = FORMAT_CHECKS[rules.format];
  const regex = pattern === "" ? undefined : new RegExp(pattern, "u");
  if (!required && !maxLen && !regex && !format) return undefined;
  return (value, path, out) => {
    const s = value as string;
    if (s === "") {
      if (required) violation(out, path, "required", "is required");
      return;
    }
    // UTF-16 length bounds the code-point count from above, so counting is needed only past the limit.
    if (maxLen && s.length > maxLen && [...s].length > maxLen) {
      violation(out, path, "string.max_len", `must be at most ${maxLen} characters`);
    }
    if (regex && !regex.test(s)) violation(out, path, "string.pattern", `must match ${pattern}`);
    const bad = format?.(s);
    if (bad !== undefined) violation(out, path, "format", `must be ${bad}`);
  };
}

function numberCheck(rules: FieldRules): ValueCheck | undefined {
  const { required, gte, lte } = rules;
  if (!required && gte === undefined && lte === undefined) return undefined;
  return (value, path, out) => {
    const n = value as number | bigint;
    // Mixed bigint/number comparisons are exact in JavaScript, so int64 bounds need no conversion.
    if (required && n == 0) violation(out, path, "required", "is required (non-zero)");
    if (gte !== undefined && n < gte) violation(out, path, "number.gte", `must be >= ${gte}`);
    if (lte !== undefined && n > lte) violation(out, path, "number.lte", `must be <= ${lte}`);
  };
}

function enumCheck(declared: number[], rules: FieldRules): ValueCheck {
  const known = new Set(declared);
  return (value, path, out) => {
    const n = value as number;
    if (!known.has(n)) violation(out, path, "enum.defined", `has undeclared enum value ${n}`);
    else if (rules.required && n === 0) violation(out, path, "required", "is required (not UNSPECIFIED)");
  };
}

function messageValueCheck(schema: DescMessage, rules: FieldRules): ValueCheck {
  const isTimestamp = schema.typeName === TIMESTAMP;
  return (value, path, out) => {
    if (value === undefined) {
      if (rules.required) violation(out, path, "required", "is required");
      return;
    }
    if (isTimestamp) checkTimestamp(value as Msg, path, out);
    else checkMessage(schema, value as object, path, out);
  };
}

function checkTimestamp(ts: Msg, path: string, out: Violation[]): void {
  const seconds = ts["seconds"] as bigint;
  const nanos = ts["nanos"] as number;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || nanos < 0 || nanos > 999_999_999) {
    violation(out, path, "timestamp.range", "must be a timestamp between years 1 and 9999");
  }
}

function seconds(ts: Msg): number {
  return Number(ts["seconds"] as bigint) + (ts["nanos"] as number) / 1e9;
}

function messageFieldCheck(schema: DescMessage, field: DescField, message: DescMessage, rules: FieldRules): Check {
  const value = messageValueCheck(message, rules);
  const { name, localName } = field;
  const sibling = rules.after === "" ? undefined : schema.fields.find((f) => f.name === rules.after);
  if (rules.after !== "" && sibling === undefined) throw new Error(`${schema.typeName}.${name}: no field '${rules.after}'`);
  return (m, path, out) => {
    const p = join(path, name);
    value(m[localName], p, out);
    const mine = m[localName] as Msg | undefined;
    const other = sibling && (m[sibling.localName] as Msg | undefined);
    if (mine && other && seconds(mine) <= seconds(other)) {
      violation(out, p, "timestamp.after", `must be after '${join(path, sibling.name)}'`);
    }
  };
}

function elementCheck(kind: "scalar" | "enum" | "message", field: DescField, rules: FieldRules): ValueCheck | undefined {
  if (kind === "message") return field.message ? messageValueCheck(field.message, rules) : undefined;
  if (kind === "enum") return field.enum ? enumCheck(field.enum.values.map((v) => v.number), rules) : undefined;
  return field.scalar === undefined ? undefined : scalarCheck(field.scalar, rules);
}

function countCheck(rules: FieldRules, n: number, path: string, out: Violation[]): void {
  if (rules.required && n === 0) violation(out, path, "required", "must not be empty");
  if (rules.minItems && n < rules.minItems) violation(out, path, "items.min", `must have at least ${rules.minItems} items`);
  if (rules.maxItems && n > rules.maxItems) violation(out, path, "items.max", `must have at most ${rules.maxItems} items`);
}

function listCheck(field: DescField & { fieldKind: "list" }, rules: FieldRules): Check {
  const item = elementCheck(field.listKind, field, rules.items ?? NO_RULES);
  const { name, localName } = field;
  return (m, path, out) => {
    const list = m[localName] as unknown[];
    const p = join(path, name);
    countCheck(rules, list.length, p, out);
    const seen = rules.unique ? new Set<unknown>() : undefined;
    for (let i = 0; i < list.length; i++) {
      item?.(list[i], `${p}[${i}]`, out);
      if (seen?.has(list[i])) violation(out, `${p}[${i}]`, "items.unique", "repeats an earlier item");
      seen?.add(list[i]);
    }
  };
}

function mapCheck(field: DescField & { fieldKind: "map" }, rules: FieldRules): Check {
  const key = scalarCheck(field.mapKey, rules.keys ?? NO_RULES);
  const value = elementCheck(field.mapKind, field, rules.values ?? NO_RULES);
  const { name, localName } = field;
  return (m, path, out) => {
    const map = m[localName] as Record<string, unknown>;
    const p = join(path, name);
    const keys = Object.keys(map);
    countCheck(rules, keys.length, p, out);
    for (const k of keys) {
      const kp = `${p}[${JSON.stringify(k)}]`;
      key?.(k, kp, out);
      value?.(map[k], kp, out);
    }
  };
}

function sameCurrency(moneyFields: DescField[]): Check {
  return (m, path, out) => {
    let first: { name: string; code: string } | undefined;
    for (const f of moneyFields) {
      const money = m[f.localName] as { currencyCode: string } | undefined;
      if (!money || money.currencyCode === "") continue;
      if (!first) first = { name: f.name, code: money.currencyCode };
      else if (money.currencyCode !== first.code) {
        const p = join(join(path, f.name), "currency_code");
        violation(out, p, "money.same_currency", `must be '${first.code}' like '${join(path, first.name)}'`);
      }
    }
  };
}
