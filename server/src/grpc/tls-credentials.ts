// gRPC server credentials whose certificates can be replaced while the server runs: grpc-js hands
// the new secure context to its HTTP/2 server, so new connections get it and open ones go on.
import * as grpc from "@grpc/grpc-js";
import type { SecureContextOptions } from "node:tls";

export class ReloadableServerCredentials extends grpc.ServerCredentials {
  /**
   * @param handshakeTimeoutMs how long a connection may take to finish its TLS handshake: the HTTP/2
   *   preface timeout starts only after it, so a silent socket would otherwise wait Node's 120 s
   */
  constructor(context: SecureContextOptions, requireClientCertificate: boolean, handshakeTimeoutMs?: number) {
    // rejectUnauthorized (the default with requestCert) ends a handshake without a valid client certificate.
    super({ requestCert: requireClientCertificate, rejectUnauthorized: requireClientCertificate, ...(handshakeTimeoutMs === undefined ? {} : { handshakeTimeout: handshakeTimeoutMs }) }, context);
  }

  /** New certificates for connections from now on. */
  replace(context: SecureContextOptions): void {
    this.updateSecureContextOptions(context);
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return this === other;
  }
}
