/**
 * TLS options of the client: Node's own, plus `extraCa` to trust more
 * certificate authorities on top of Node's built-in roots (which `ca` alone
 * would replace). The secure context for `extraCa` is built once per options
 * object: parsing the ~140 built-in roots on every connection would cost
 * milliseconds each time.
 */
import { createSecureContext, rootCertificates, type ConnectionOptions, type SecureContext } from "node:tls";
import { UsageError } from "../core/index.js";

/** TLS options for wss: (and https: proxies): node:tls's, plus `extraCa`. */
export interface ClientTlsOptions extends ConnectionOptions {
  /**
   * CA certificates (PEM) trusted in addition to Node's built-in roots
   * (`tls.rootCertificates`), or in addition to `ca` when that is given.
   */
  extraCa?: string | Buffer | Array<string | Buffer>;
}

const contexts = new WeakMap<ClientTlsOptions, SecureContext>();

/** The node:tls connection options for `tls`, with `extraCa` folded into a cached secure context. */
export function tlsConnectOptions(tls: ClientTlsOptions | undefined): ConnectionOptions {
  if (tls === undefined) return {};
  if (typeof tls !== "object" || tls === null) throw new UsageError("INVALID_OPTION", "tls must be an object of node:tls options");
  if (tls.extraCa === undefined) return tls;
  let secureContext = contexts.get(tls);
  if (secureContext === undefined) {
    const { extraCa, ...rest } = tls;
    const base = rest.ca === undefined ? rootCertificates : [rest.ca].flat();
    secureContext = createSecureContext({ ...rest, ca: [...base, ...[extraCa].flat()] });
    contexts.set(tls, secureContext);
  }
  const { extraCa: _, ...options } = tls;
  return { ...options, secureContext };
}
