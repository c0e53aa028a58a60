// What a gRPC call presents as identity: its `authorization` header and, on a mutual-TLS
// connection, the names of the client certificate TLS verified. Trusting them is server/src/auth's
// job; this file only reads them off grpc-js's call.
import type { Metadata } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { Presented } from "../auth/authenticate.js";
import { certificateNames } from "../auth/certificate-names.js";

interface IdentifiedCall {
  readonly metadata: Metadata;
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate } | null;
}

export function presentedBy(call: IdentifiedCall): Presented {
  const authorization = call.metadata.get("authorization")[0];
  return {
    authorization: authorization === undefined ? undefined : String(authorization),
    certificateNames: certificateNames(call.getAuthContext()?.sslPeerCertificate),
  };
}
