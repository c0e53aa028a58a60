// What a principal may do, compiled from the policy file into sets and matchers that answer in
// constant time per event: which types it may publish and read, which sources it may claim, which
// groups it may consume or administer.
import { eventCatalog } from "../../../sdk/src/catalog/catalog.js";

const ALL_TYPES: readonly string[] = eventCatalog().map((e) => e.type);
const DOMAIN_OF = new Map<string, string>(eventCatalog().map((e) => [e.type, e.domain]));
const DOMAINS = new Set(DOMAIN_OF.values());

/** Every event type of the catalog. */
export function allEventTypes(): readonly string[] {
  return ALL_TYPES;
}

/** A name matcher from exact names and prefix globs (`"finance-*"`, `"*"`). */
export type NameMatcher = (name: string) => boolean;

export function nameMatcher(patterns: readonly string[]): NameMatcher {
  const exact = new Set(patterns.filter((p) => !p.endsWith("*")));
  const prefixes = patterns.filter((p) => p.endsWith("*")).map((p) => p.slice(0, -1));
  if (prefixes.includes("")) return () => true;
  return (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p));
}

/**
 * The event types named by type patterns (exact or prefix globs, as in filters) and domains.
 * @returns the types, or a message saying which entry is wrong
 */
export function expandTypes(types: readonly string[], domains: readonly string[]): Set<string> | { bad: string; index: number; field: "types" | "domains" } {
  const out = new Set<string>();
  for (const [index, entry] of types.entries()) {
    const hits = entry.endsWith("*") ? ALL_TYPES.filter((t) => t.startsWith(entry.slice(0, -1))) : DOMAIN_OF.has(entry) ? [entry] : [];
    if (hits.length === 0 || entry.slice(0, -1).includes("*")) return { bad: `'${entry}' is not an event type of the catalog nor a glob matching one`, index, field: "types" };
    for (const t of hits) out.add(t);
  }
  for (const [index, d] of domains.entries()) {
    if (!DOMAINS.has(d)) return { bad: `'${d}' is not a domain of the catalog`, index, field: "domains" };
    for (const t of ALL_TYPES) if (DOMAIN_OF.get(t) === d) out.add(t);
  }
  return out;
}

/** A principal's rights, after its roles are merged in. */
export interface Rights {
  readonly publishTypes: ReadonlySet<string>;
  readonly sources: NameMatcher;
  readonly readTypes: ReadonlySet<string>;
  readonly consume: NameMatcher;
  readonly admin: NameMatcher;
}

/** Rights as written, before compilation: the union of a principal's own and its roles'. */
export interface RightsSpec {
  publishTypes: string[];
  publishDomains: string[];
  sources: string[];
  readTypes: string[];
  readDomains: string[];
  consume: string[];
  admin: string[];
}

export function emptySpec(): RightsSpec {
  return { publishTypes: [], publishDomains: [], sources: [], readTypes: [], readDomains: [], consume: [], admin: [] };
}

export function mergeSpecs(a: RightsSpec, b: RightsSpec): RightsSpec {
  const out = emptySpec();
  for (const k of Object.keys(out) as (keyof RightsSpec)[]) out[k] = [...new Set([...a[k], ...b[k]])];
  return out;
}

/** Rights that allow everything: the broker without a policy (loopback, as before). */
export const ALL_RIGHTS: Rights = {
  publishTypes: new Set(ALL_TYPES),
  sources: () => true,
  readTypes: new Set(ALL_TYPES),
  consume: () => true,
  admin: () => true,
};
