// Certificates made at test time with openssl: a private CA, and server and client certificates
// it signs (EC P-256, so making them is quick). Nothing is checked in.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Issued {
  readonly cert: string;
  readonly key: string;
  readonly certPem: Buffer;
  readonly keyPem: Buffer;
}

export interface TestCa {
  readonly dir: string;
  readonly cert: string;
  readonly certPem: Buffer;
  /** A certificate signed by this CA: subject CN `cn`, SANs as openssl writes them (`DNS:x`, `IP:1.2.3.4`). */
  issue(name: string, cn: string, sans?: readonly string[]): Issued;
  [Symbol.dispose](): void;
}

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { stdio: ["ignore", "ignore", "pipe"] });
}

export function makeCa(label = "test-ca"): TestCa {
  const dir = mkdtempSync(join(tmpdir(), "certs-"));
  const caKey = join(dir, `${label}.key`);
  const caCert = join(dir, `${label}.pem`);
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", caKey, "-out", caCert, "-days", "2", "-subj", `/CN=${label}`]);
  const issue = (name: string, cn: string, sans: readonly string[] = []): Issued => {
    const key = join(dir, `${name}.key`);
    const csr = join(dir, `${name}.csr`);
    const cert = join(dir, `${name}.pem`);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(ext, sans.length > 0 ? `subjectAltName=${sans.join(",")}\n` : "basicConstraints=CA:FALSE\n");
    openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`]);
    openssl(["x509", "-req", "-in", csr, "-CA", caCert, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "2", "-extfile", ext]);
    return { cert, key, certPem: readFileSync(cert), keyPem: readFileSync(key) };
  };
  return { dir, cert: caCert, certPem: readFileSync(caCert), issue, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The server certificate every TLS test uses: valid for 127.0.0.1 and localhost. */
export function serverCert(ca: TestCa, name = "broker"): Issued {
  return ca.issue(name, "broker.qingyu.internal", ["DNS:localhost", "IP:127.0.0.1"]);
}
