// The access policy file (BROKER_AUTH_FILE, YAML or JSON): who the principals are, how they prove
// it (token hashes, certificate names, JWT issuer) and what each may do. Validated whole at load,
// with errors that name the place (`principals.finance-svc.publish.types[0]: ...`).
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { emptySpec, expandTypes, mergeSpecs, nameMatcher, type Rights, type RightsSpec } from "./rights.js";

/** A policy file that cannot be used; the message names the file and the place. */
export class PolicyError extends Error {
  override name = "PolicyError";
}

/** How JWTs are verified. */
export interface JwtSettings {
  /** The JSON Web Key Set (public keys) read from `jwks_file`. */
  readonly jwks: { keys: Record<string, unknown>[] };
  readonly issuer: string;
  readonly audience: string;
  /** The claim naming the principal. @defaultValue "sub" */
  readonly principalClaim: string;
  readonly clockToleranceS: number;
}

/** A validated, compiled policy. */
export interface Policy {
  /** Methods callable without credentials. */
  readonly open: { readonly health: boolean; readonly reflection: boolean };
  readonly rights: ReadonlyMap<string, Rights>;
  /** SHA-256 digests of static tokens, with their principal. */
  readonly tokens: readonly { readonly digest: Buffer; readonly principal: string }[];
  /** Certificate subject CN or SAN values, with their principal. */
  readonly certificateNames: ReadonlyMap<string, string>;
  readonly jwt: JwtSettings | undefined;
}

type Obj = Record<string, unknown>;

const NAME = /^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$/;
const TOKEN_HASH = /^sha256:([0-9a-f]{64})$/;
const KEYS_OF = {
  top: ["version", "open", "jwt", "roles", "principals"],
  open: ["health", "reflection"],
  jwt: ["jwks_file", "issuer", "audience", "principal_claim", "clock_tolerance_seconds"],
  rights: ["roles", "tokens", "certificate_names", "publish", "read", "groups"],
  publish: ["types", "domains", "sources"],
  read: ["types", "domains"],
  groups: ["consume", "admin"],
} as const;

function fail(path: string, message: string): never {
  throw new PolicyError(`${path}: ${message}`);
}

function object(v: unknown, path: string, keys: readonly string[]): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) fail(path, "must be a mapping");
  for (const k of Object.keys(v)) if (!keys.includes(k)) fail(`${path}.${k}`, `unknown key; expected one of ${keys.join(", ")}`);
  return v as Obj;
}

function strings(v: unknown, path: string, pattern?: RegExp, what = ""): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(path, "must be a list");
  return v.map((s, i) => {
    if (typeof s !== "string" || s === "") fail(`${path}[${i}]`, "must be a non-empty string");
    if (pattern && !pattern.test(s)) fail(`${path}[${i}]`, `'${s}' must be ${what}`);
    return s;
  });
}

function text(v: unknown, path: string): string {
  if (typeof v !== "string" || v === "") fail(path, "must be a non-empty string");
  return v;
}

function bool(v: unknown, path: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") fail(path, "must be true or false");
  return v;
}

/** A principal's or role's own rights, as written. */
function specOf(o: Obj, path: string): RightsSpec {
  const pub = object(o["publish"], `${path}.publish`, KEYS_OF.publish);
  const read = object(o["read"], `${path}.read`, KEYS_OF.read);
  const groups = object(o["groups"], `${path}.groups`, KEYS_OF.groups);
  const glob = /^[^*]*\*?$/;
  const spec: RightsSpec = {
    publishTypes: strings(pub["types"], `${path}.publish.types`),
    publishDomains: strings(pub["domains"], `${path}.publish.domains`),
    sources: strings(pub["sources"], `${path}.publish.sources`, glob, "a source or a prefix glob"),
    readTypes: strings(read["types"], `${path}.read.types`),
    readDomains: strings(read["domains"], `${path}.read.domains`),
    consume: strings(groups["consume"], `${path}.groups.consume`, glob, "a group name or a prefix glob"),
    admin: strings(groups["admin"], `${path}.groups.admin`, glob, "a group name or a prefix glob"),
  };
  if ((spec.publishTypes.length > 0 || spec.publishDomains.length > 0) && spec.sources.length === 0) {
    fail(`${path}.publish.sources`, "is required with publish rights: the sources the principal may claim");
  }
  return spec;
}

function typesOf(types: string[], domains: string[], path: string): Set<string> {
  const r = expandTypes(types, domains);
  if (r instanceof Set) return r;
  return fail(`${path}.${r.field}[${r.index}]`, r.bad);
}

function compile(spec: RightsSpec, path: string): Rights {
  return {
    publishTypes: typesOf(spec.publishTypes, spec.publishDomains, `${path}.publish`),
    sources: nameMatcher(spec.sources),
    readTypes: typesOf(spec.readTypes, spec.readDomains, `${path}.read`),
    consume: nameMatcher(spec.consume),
    admin: nameMatcher(spec.admin),
  };
}

function jwtOf(v: unknown, baseDir: string): JwtSettings | undefined {
  if (v === undefined) return undefined;
  const o = object(v, "jwt", KEYS_OF.jwt);
  const file = resolve(baseDir, text(o["jwks_file"], "jwt.jwks_file"));
  let jwks: unknown;
  try {
    jwks = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    fail("jwt.jwks_file", `cannot read '${file}' as JSON: ${(err as Error).message}`);
  }
  const keys = (jwks as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== "object" || k === null)) fail("jwt.jwks_file", `'${file}' is not a JWK set with keys`);
  const tolerance = o["clock_tolerance_seconds"] ?? 30;
  if (typeof tolerance !== "number" || !Number.isInteger(tolerance) || tolerance < 0 || tolerance > 300) fail("jwt.clock_tolerance_seconds", "must be an integer 0-300");
  return {
    jwks: { keys: keys as Record<string, unknown>[] },
    issuer: text(o["issuer"], "jwt.issuer"),
    audience: text(o["audience"], "jwt.audience"),
    principalClaim: o["principal_claim"] === undefined ? "sub" : text(o["principal_claim"], "jwt.principal_claim"),
    clockToleranceS: tolerance,
  };
}

function rolesOf(v: unknown): Map<string, RightsSpec> {
  const roles = new Map<string, RightsSpec>();
  for (const [name, r] of Object.entries(object(v, "roles", Object.keys((v ?? {}) as Obj)))) {
    const path = `roles.${name}`;
    if (!NAME.test(name)) fail(path, "a role name is 1-128 of [A-Za-z0-9._@:-]");
    roles.set(name, specOf(object(r, path, KEYS_OF.rights.filter((k) => k !== "roles" && k !== "tokens" && k !== "certificate_names")), path));
  }
  return roles;
}

/** Validates and compiles a parsed policy document; `baseDir` resolves relative file names. */
export function compilePolicy(doc: unknown, baseDir: string): Policy {
  const top = object(doc, "(top)", KEYS_OF.top);
  if (top["version"] !== undefined && top["version"] !== 1) fail("version", "must be 1");
  const open = object(top["open"], "open", KEYS_OF.open);
  const roles = rolesOf(top["roles"]);
  const principals = object(top["principals"], "principals", Object.keys((top["principals"] ?? {}) as Obj));
  if (Object.keys(principals).length === 0) fail("principals", "must name at least one principal");
  const rights = new Map<string, Rights>();
  const tokens: { digest: Buffer; principal: string }[] = [];
  const certificateNames = new Map<string, string>();
  for (const [name, p] of Object.entries(principals)) {
    const path = `principals.${name}`;
    if (!NAME.test(name)) fail(path, "a principal name is 1-128 of [A-Za-z0-9._@:-]");
    const o = object(p, path, KEYS_OF.rights);
    let spec = specOf(o, path);
    for (const [i, role] of strings(o["roles"], `${path}.roles`).entries()) {
      const r = roles.get(role);
      if (!r) fail(`${path}.roles[${i}]`, `'${role}' is not a role of 'roles'`);
      spec = mergeSpecs(spec, r);
    }
    rights.set(name, compile(spec, path));
    for (const [i, t] of strings(o["tokens"], `${path}.tokens`, TOKEN_HASH, "'sha256:' and 64 lowercase hex digits (the token's SHA-256)").entries()) {
      const digest = Buffer.from(TOKEN_HASH.exec(t)?.[1] ?? "", "hex");
      if (tokens.some((x) => x.digest.equals(digest))) fail(`${path}.tokens[${i}]`, "this token hash is already given to a principal");
      tokens.push({ digest, principal: name });
    }
    for (const [i, c] of strings(o["certificate_names"], `${path}.certificate_names`).entries()) {
      if (certificateNames.has(c)) fail(`${path}.certificate_names[${i}]`, `'${c}' already names principal '${certificateNames.get(c)}'`);
      certificateNames.set(c, name);
    }
  }
  return {
    open: { health: bool(open["health"], "open.health", true), reflection: bool(open["reflection"], "open.reflection", true) },
    rights,
    tokens,
    certificateNames,
    jwt: jwtOf(top["jwt"], baseDir),
  };
}

/**
 * Reads a policy file: `.json` as JSON, anything else as YAML (a superset of JSON).
 * @throws PolicyError naming the file and the place of the first problem
 */
export function loadPolicyFile(file: string): Policy {
  let doc: unknown;
  try {
    const raw = readFileSync(file, "utf8");
    doc = file.endsWith(".json") ? JSON.parse(raw) : parseYaml(raw, { uniqueKeys: true });
  } catch (err) {
    throw new PolicyError(`${file}: cannot be read: ${(err as Error).message}`);
  }
  try {
    return compilePolicy(doc, dirname(resolve(file)));
  } catch (err) {
    if (err instanceof PolicyError) throw new PolicyError(`${file}: ${err.message}`);
    throw err;
  }
}
