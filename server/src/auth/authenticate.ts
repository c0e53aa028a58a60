// Who a call comes from: a bearer token (a static token, kept in the policy only as its SHA-256,
// or a JWT verified against the policy's JWKS) or a client certificate that TLS has verified.
import { createHash, timingSafeEqual } from "node:crypto";
import { createLocalJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet } from "jose";
import { ErrorReason } from "../../../sdk/src/gen/qingyu/broker/v1/errors_pb.js";
import { DomainError } from "../errors.js";
import type { Principal } from "./access.js";
import type { Policy } from "./policy.js";

/** What a transport found on a call, before anyone trusts it. */
export interface Presented {
  /** The `authorization` header, as sent. */
  readonly authorization: string | undefined;
  /** The client certificate's names, when TLS verified one: subject CN first, then SAN values. */
  readonly certificateNames: readonly string[];
}

export function unauthenticated(message: string): DomainError {
  return new DomainError(ErrorReason.UNAUTHENTICATED, message);
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/i;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Authenticates calls against one policy. */
export class Authenticator {
  private readonly keys: ReturnType<typeof createLocalJWKSet> | undefined;

  constructor(private readonly policy: Policy) {
    this.keys = policy.jwt ? createLocalJWKSet(policy.jwt.jwks as unknown as JSONWebKeySet) : undefined;
  }

  /**
   * The caller's principal. A bearer token wins over a certificate; a bad one is refused, not
   * ignored in favour of the certificate.
   * @throws DomainError UNAUTHENTICATED when nothing valid is presented
   */
  async authenticate(p: Presented): Promise<Principal> {
    if (p.authorization !== undefined) {
      const token = BEARER.exec(p.authorization)?.[1];
      if (token === undefined) throw unauthenticated("the authorization header must be 'Bearer <token>'");
      return JWT_SHAPE.test(token) && this.keys ? this.verifyJwt(token) : this.staticToken(token);
    }
    for (const name of p.certificateNames) {
      const principal = this.policy.certificateNames.get(name) ?? (this.policy.rights.has(name) ? name : undefined);
      if (principal !== undefined) return { name: principal, via: "certificate" };
    }
    if (p.certificateNames.length > 0) throw unauthenticated("the client certificate names no principal of the policy");
    throw unauthenticated("credentials required: send 'authorization: Bearer <token>' or a client certificate");
  }

  /** Compares the token's digest with every known digest, in constant time and without stopping early. */
  private staticToken(token: string): Principal {
    const digest = createHash("sha256").update(token, "utf8").digest();
    let found: string | undefined;
    for (const t of this.policy.tokens) if (timingSafeEqual(digest, t.digest) && found === undefined) found = t.principal;
    if (found === undefined) throw unauthenticated("unknown bearer token");
    return { name: found, via: "token" };
  }

  private async verifyJwt(token: string): Promise<Principal> {
    const jwt = this.policy.jwt;
    if (!jwt || !this.keys) throw unauthenticated("unknown bearer token");
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, this.keys, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        clockTolerance: jwt.clockToleranceS,
        requiredClaims: ["exp"],
      }));
    } catch (err) {
      const code = err instanceof joseErrors.JOSEError ? err.code : "ERR_JWT_INVALID";
      throw unauthenticated(code === "ERR_JWT_EXPIRED" ? "the bearer token has expired" : `the bearer token is not valid (${code})`);
    }
    const name = claims[jwt.principalClaim];
    if (typeof name !== "string" || !this.policy.rights.has(name)) throw unauthenticated(`the token's '${jwt.principalClaim}' claim names no principal of the policy`);
    return { name, via: "jwt" };
  }
}

/** The `sha256:<hex>` form of a token, as written in the policy file. */
export function tokenHash(token: string): string {
  return `sha256:${createHash("sha256").update(token, "utf8").digest("hex")}`;
}
