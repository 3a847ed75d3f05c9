/**
 * Certificates made with openssl at test time, for mutual TLS: a CA and
 * the client (or server) certificates it issues (EC P-256, valid two days),
 * in a temporary directory the caller removes.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { programUnavailable } from "./daemon.js";

export const opensslUnavailable = (): string | false => programUnavailable("openssl", "openssl", ["version"]);

export interface Issued {
  cert: Buffer;
  key: Buffer;
  certPath: string;
  keyPath: string;
}

export class TestCertificates {
  readonly dir = mkdtempSync(join(tmpdir(), "wsx-certs-"));

  private openssl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: "pipe" });
  }

  /** A self-signed CA named `name`; returns its certificate. */
  ca(name: string): Buffer {
    this.openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`);
    return readFileSync(join(this.dir, `${name}.pem`));
  }

  /**
   * A certificate for `name` issued by the CA `ca` (made with {@link ca});
   * `altNames` (such as `IP:127.0.0.1`) make it a server certificate for those.
   */
  issue(name: string, ca: string, altNames: string[] = []): Issued {
    this.openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`);
    const extensions: string[] = [];
    if (altNames.length > 0) {
      writeFileSync(join(this.dir, `${name}.ext`), `subjectAltName=${altNames.join(",")}\n`);
      extensions.push("-extfile", `${name}.ext`);
    }
    this.openssl("x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-CAcreateserial", "-days", "2", "-out", `${name}.pem`, ...extensions);
    const certPath = join(this.dir, `${name}.pem`);
    const keyPath = join(this.dir, `${name}.key`);
    return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath, keyPath };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
