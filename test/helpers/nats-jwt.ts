// NATS decentralized auth made at test time: an operator, a system account, an account with
// JetStream and a user, as `nsc` would make them, signed with nkeys (ed25519). Gives the
// nats-server configuration (operator mode, memory resolver) and the user's .creds file, so a
// test can run the broker with BROKER_NATS_CREDS against a real server.
import { createHash } from "node:crypto";
import { createAccount, createOperator, createUser, type KeyPair } from "@nats-io/nkeys";

export interface NatsOperatorSetup {
  /** nats-server configuration text: operator, system account, preloaded account JWTs. */
  readonly config: string;
  /** A .creds file's text for a user of the account. */
  readonly creds: string;
  /** The user's public key (U...). */
  readonly user: string;
}

const base64url = (s: string | Uint8Array) => Buffer.from(s).toString("base64url");

/** RFC 4648 base32 without padding, as the Go jwt library encodes a claim's `jti`. */
function base32(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** A NATS JWT (v2 claims) about `subject`, signed by `issuer`. */
function sign(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims: Record<string, unknown> = { jti: "", iat: Math.floor(Date.now() / 1000), iss: issuer.getPublicKey(), name, sub: subject, nats: { ...nats, version: 2 } };
  claims["jti"] = base32(createHash("sha512-256").update(JSON.stringify(claims)).digest());
  const header = base64url(JSON.stringify({ typ: "JWT", alg: "ed25519-nkey" }));
  const body = `${header}.${base64url(JSON.stringify(claims))}`;
  return `${body}.${base64url(issuer.sign(new TextEncoder().encode(body)))}`;
}

const UNLIMITED = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export function natsOperatorSetup(): NatsOperatorSetup {
  const operator = createOperator();
  const system = createAccount();
  const account = createAccount();
  const user = createUser();
  const operatorJwt = sign(operator, operator.getPublicKey(), "test-operator", { type: "operator", system_account: system.getPublicKey() });
  const systemJwt = sign(operator, system.getPublicKey(), "SYS", { type: "account", limits: UNLIMITED });
  const accountJwt = sign(operator, account.getPublicKey(), "broker", {
    type: "account",
    limits: { ...UNLIMITED, mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 },
  });
  const userJwt = sign(account, user.getPublicKey(), "broker", { type: "user", pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  const config = [
    `operator: ${operatorJwt}`,
    `system_account: ${system.getPublicKey()}`,
    "resolver: MEMORY",
    "resolver_preload: {",
    `  ${system.getPublicKey()}: ${systemJwt}`,
    `  ${account.getPublicKey()}: ${accountJwt}`,
    "}",
    "",
  ].join("\n");
  const seed = new TextDecoder().decode(user.getSeed());
  const creds = [
    "-----BEGIN NATS USER JWT-----",
    userJwt,
    "------END NATS USER JWT------",
    "",
    "-----BEGIN USER NKEY SEED-----",
    seed,
    "------END USER NKEY SEED------",
    "",
  ].join("\n");
  return { config, creds, user: user.getPublicKey() };
}
