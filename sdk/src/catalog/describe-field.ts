// How a field of the catalog is described to people: its type and its rules in one line each. Used
// by docs/events.md (scripts/gen-docs.ts, from a registry built by buf) and by the web console's
// catalog page (from the generated descriptors), so both say the same thing.
import { getOption, hasOption, ScalarType, type DescEnum, type DescExtension, type DescField } from "@bufbuild/protobuf";

/** A field's type as written in .proto: `string`, `repeated Money`, `map<string, string>`. */
export function fieldType(f: DescField): string {
  const element = (kind: "scalar" | "enum" | "message"): string =>
    kind === "message" ? (f.message?.name ?? "") : kind === "enum" ? (f.enum?.name ?? "") : ScalarType[f.scalar ?? ScalarType.STRING].toLowerCase();
  switch (f.fieldKind) {
    case "list":
      return `repeated ${element(f.listKind)}`;
    case "map":
      return `map<${ScalarType[f.mapKey].toLowerCase()}, ${element(f.mapKind)}>`;
    default:
      return element(f.fieldKind);
  }
}

/**
 * A field's `(qingyu.events.v1.rules)` as "required, max_len: 64, items: {required}", defaults
 * skipped; "" when it has none.
 * @param rules the `rules` extension, @param formats the `StringFormat` enum, of the same registry as `f`
 */
export function ruleSummary(f: DescField, rules: DescExtension, formats: DescEnum): string {
  const formatName = (n: number) => formats.values.find((v) => v.number === n)?.name.replace("STRING_FORMAT_", "").toLowerCase() ?? String(n);
  return hasOption(f, rules) ? describeRules(getOption(f, rules) as unknown as Record<string, unknown>, formatName) : "";
}

function describeRules(r: Record<string, unknown>, formatName: (n: number) => string): string {
  const parts: string[] = [];
  for (const [key, v] of Object.entries(r)) {
    if (key === "$typeName" || v === undefined || v === "" || v === 0 || v === false) continue;
    const name = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    if (v === true) parts.push(name);
    else if (typeof v === "object") parts.push(`${name}: {${describeRules(v as Record<string, unknown>, formatName)}}`);
    else parts.push(`${name}: ${name === "format" ? formatName(v as number) : String(v)}`);
  }
  return parts.join(", ");
}
