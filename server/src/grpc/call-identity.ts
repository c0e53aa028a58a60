// What a gRPC call presents as identity: its `authorization` header and, on a mutual-TLS
// connection, the names of the client certificate TLS verified. Trusting them is server/src/auth's
// job; this file only reads them off grpc-js's call.
import type { Metadata } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { Presented } from "../auth/authenticate.js";

interface IdentifiedCall {
  readonly metadata: Metadata;
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate } | null;
}

/** SAN entries as Node prints them: `DNS:a, URI:spiffe://x, email:e, IP Address:1.2.3.4`. */
function sanValues(subjectaltname: string | undefined): string[] {
  if (!subjectaltname) return [];
  return subjectaltname
    .split(", ")
    .map((entry) => /^(?:DNS|URI|email|IP Address):(.+)$/.exec(entry)?.[1])
    .filter((v): v is string => v !== undefined);
}

/** The certificate's names: subject CN first, then SAN values. */
export function certificateNames(cert: PeerCertificate | undefined): string[] {
  // Node gives an empty object, not undefined, when the client sent no certificate.
  if (!cert || !cert.subject) return [];
  const cn = cert.subject.CN;
  return [...(typeof cn === "string" ? [cn] : Array.isArray(cn) ? cn : []), ...sanValues(cert.subjectaltname)];
}

export function presentedBy(call: IdentifiedCall): Presented {
  const authorization = call.metadata.get("authorization")[0];
  return {
    authorization: authorization === undefined ? undefined : String(authorization),
    certificateNames: certificateNames(call.getAuthContext()?.sslPeerCertificate),
  };
}
