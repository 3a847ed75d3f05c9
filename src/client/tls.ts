/**
 * TLS options of the client: Node's own, plus `extraCa` to trust more
 * certificate authorities on top of Node's built-in roots (which `ca` alone
 * would replace). The secure context for `extraCa` is built once per options
 * object: parsing the ~140 built-in roots on every connection would cost
 * milliseconds each time.
 */
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext } from "node:tls";
import { UsageError, describeValue } from "../core/index.js";

/** TLS options for wss: (and https: proxies): node:tls's, plus `extraCa`. */
export interface ClientTlsOptions extends ConnectionOptions {
  /**
   * CA certificates (PEM) trusted in addition to Node's built-in roots
   * (`tls.rootCertificates`), or in addition to `ca` when that is given.
   */
  extraCa?: string | Buffer | Array<string | Buffer>;
}

const contexts = new WeakMap<ClientTlsOptions, SecureContext>();

/** node:tls silently skips CA text that is not PEM: a file's path given instead of its contents would go unnoticed. */
const isPem = (value: unknown): boolean =>
  (typeof value === "string" || Buffer.isBuffer(value)) && value.includes("-----BEGIN CERTIFICATE-----");

/** Checks `tls.extraCa` up front (the rest is node:tls's to check). */
export function checkClientTls(tls: ClientTlsOptions | undefined, where: string): void {
  const extraCa = tls?.extraCa;
  if (extraCa === undefined || isPem(extraCa) || (Array.isArray(extraCa) && extraCa.every(isPem))) return;
  throw new UsageError(
    "INVALID_OPTION",
    `${where}: tls.extraCa must be PEM certificates (a string, a Buffer or an array of them, the file's contents rather than its path), got ${describeValue(extraCa)}`,
  );
}

function secureContextFor(tls: ClientTlsOptions, extraCa: string | Buffer | Array<string | Buffer>): SecureContext {
  let secureContext = contexts.get(tls);
  if (secureContext === undefined) {
    const { extraCa: _, ...rest } = tls;
    const base = rest.ca === undefined ? rootCertificates : [rest.ca].flat();
    secureContext = createSecureContext({ ...rest, ca: [...base, ...[extraCa].flat()] });
    contexts.set(tls, secureContext);
  }
  return secureContext;
}

/** The node:tls connection options for `tls`, with `extraCa` folded into a cached secure context. */
export function tlsConnectOptions(tls: ClientTlsOptions | undefined): ConnectionOptions {
  if (tls === undefined) return {};
  if (tls.extraCa === undefined) return tls;
  const { extraCa, ...options } = tls;
  return { ...options, secureContext: secureContextFor(tls, extraCa) };
}
