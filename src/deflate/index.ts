/**
 * permessage-deflate (RFC 7692) for wsx: an {@link ExtensionFactory} to pass
 * to a client or a server, which negotiates the parameters in the handshake
 * and gives each connection a {@link PerMessageDeflate} codec. One factory
 * serves any number of connections; a codec holds no zlib memory until its
 * first compressed message.
 */
import { WebSocketError } from "../core/errors.js";
import type { ExtensionFactory } from "../core/extension.js";
import type { ExtensionOffer, ParsedExtension } from "../core/http.js";
import { PerMessageDeflate, settingsFor } from "./codec.js";
import { EXTENSION_NAME, acceptResponse, answerOffer, clientOffer } from "./negotiate.js";
import { resolveDeflateOptions, type DeflateOptions, type ResolvedDeflateOptions } from "./options.js";
import { UNSUPPORTED_MESSAGE, zlibSupported } from "./zlib.js";

export {
  PerMessageDeflate,
  compressMessage,
  decompressMessage,
  sharedZlibContexts,
  type CodecSettings,
  type CompressMessageOptions,
  type DecompressMessageOptions,
} from "./codec.js";
export { EXTENSION_NAME, type AgreedParameters } from "./negotiate.js";
export {
  DEFAULT_ASYNC_THRESHOLD,
  DEFAULT_LEVEL,
  DEFAULT_MEM_LEVEL,
  DEFAULT_THRESHOLD,
  resolveDeflateOptions,
  type DeflateOptions,
  type ResolvedDeflateOptions,
} from "./options.js";
export { asyncZlibSupported, liveZlibContexts, zlibSupported } from "./zlib.js";

/** The permessage-deflate factory, with its resolved configuration. */
export interface PerMessageDeflateFactory extends ExtensionFactory {
  readonly name: typeof EXTENSION_NAME;
  readonly options: Readonly<ResolvedDeflateOptions>;
  accept(response: ParsedExtension): PerMessageDeflate;
  negotiate(offers: ParsedExtension[]): { response: ExtensionOffer; extension: PerMessageDeflate } | null;
}

/**
 * Creates the permessage-deflate extension for a client or a server.
 * Throws UsageError `INVALID_DEFLATE_OPTION` for options out of range, and
 * WebSocketError `DEFLATE_UNSUPPORTED` when the runtime's `node:zlib`
 * cannot be driven synchronously.
 */
export function permessageDeflate(options: DeflateOptions = {}): PerMessageDeflateFactory {
  const resolved = Object.freeze(resolveDeflateOptions(options));
  if (!zlibSupported()) throw new WebSocketError("DEFLATE_UNSUPPORTED", UNSUPPORTED_MESSAGE);
  const tuning = { threshold: resolved.threshold, asyncThreshold: resolved.asyncThreshold, level: resolved.level, memLevel: resolved.memLevel };
  return {
    name: EXTENSION_NAME,
    options: resolved,
    offers(): ExtensionOffer[] {
      return [clientOffer(resolved)];
    },
    accept(response: ParsedExtension): PerMessageDeflate {
      const agreed = acceptResponse(resolved, response);
      return new PerMessageDeflate("client", agreed, settingsFor("client", agreed, tuning));
    },
    negotiate(offers: ParsedExtension[]): { response: ExtensionOffer; extension: PerMessageDeflate } | null {
      if (!Array.isArray(offers)) return null;
      for (const offer of offers) {
        let answer: ReturnType<typeof answerOffer>;
        try {
          answer = answerOffer(resolved, offer);
        } catch {
          answer = null; // a client's offer never makes the server throw
        }
        if (answer === null) continue;
        const { response, agreed } = answer;
        return { response, extension: new PerMessageDeflate("server", agreed, settingsFor("server", agreed, tuning)) };
      }
      return null;
    },
  };
}
