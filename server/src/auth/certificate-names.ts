// The names a client certificate carries, as the policy matches them. Every transport (the gRPC
// port, the HTTP port) reads them the same way from what TLS verified.
import type { PeerCertificate } from "node:tls";

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
