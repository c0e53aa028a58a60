// Reads the broker's TLS files (PEM) for the gRPC and metrics ports. Kept apart from any transport
// so both servers, and a later gateway, read the same files the same way.
import { readFileSync } from "node:fs";
import type { SecureContextOptions } from "node:tls";
import type { TlsFiles } from "../config.js";

/** A TLS file that cannot be read; names the variable and the path. */
export class TlsFileError extends Error {
  override name = "TlsFileError";
}

function read(variable: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TlsFileError(`${variable} '${path}' cannot be read: ${(err as Error).message}`);
  }
}

/** The key, certificate chain and, for mutual TLS, the CA that signs client certificates. */
export function readTlsFiles(files: TlsFiles): SecureContextOptions {
  return {
    cert: read("BROKER_TLS_CERT", files.cert),
    key: read("BROKER_TLS_KEY", files.key),
    ...(files.clientCa === undefined ? {} : { ca: read("BROKER_TLS_CLIENT_CA", files.clientCa) }),
  };
}
