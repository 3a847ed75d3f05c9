/**
 * Which extensions an endpoint offers or accepts, from its options, and the
 * negotiation steps shared by client and server.
 */
import {
  HandshakeError,
  type Extension,
  type ExtensionFactory,
  type ExtensionOffer,
  type ParsedExtension,
} from "../core/index.js";
import { permessageDeflate, type DeflateOptions } from "../deflate/index.js";

/** `compression: true` for the defaults, an object to tune permessage-deflate, false/absent for none. */
export type CompressionOption = boolean | DeflateOptions | undefined;

/** The extension factories an endpoint's options ask for. */
export function extensionFactories(compression: CompressionOption): ExtensionFactory[] {
  if (compression === undefined || compression === false) return [];
  return [permessageDeflate(compression === true ? {} : compression)];
}

/**
 * Client side: build the extensions the server accepted. Each must be one we
 * offered (the core checked the names), at most once.
 */
export function acceptExtensions(factories: ExtensionFactory[], accepted: ParsedExtension[], status: number): Extension[] {
  const seen = new Set<string>();
  return accepted.map((response) => {
    if (seen.has(response.name)) {
      throw new HandshakeError("INVALID_EXTENSION_RESPONSE", `server accepted ${response.name} twice`, status);
    }
    seen.add(response.name);
    const factory = factories.find((candidate) => candidate.name === response.name)!;
    return factory.accept(response);
  });
}

/** What the server agreed to: the response parameters and the extensions they configure, in the same order. */
export interface ExtensionAgreement {
  readonly responses: readonly ExtensionOffer[];
  readonly extensions: readonly Extension[];
}

/** Nothing negotiated, the common case: one shared answer instead of three objects per handshake. */
const NO_AGREEMENT: ExtensionAgreement = Object.freeze({ responses: Object.freeze([]), extensions: Object.freeze([]) });

/** Server side: for each supported extension, the first acceptable offer (offers of others are ignored). */
export function negotiateExtensions(factories: ExtensionFactory[], offers: ParsedExtension[]): ExtensionAgreement {
  if (offers.length === 0 || factories.length === 0) return NO_AGREEMENT;
  const responses: ExtensionOffer[] = [];
  const extensions: Extension[] = [];
  for (const factory of factories) {
    const mine = offers.filter((offer) => offer.name === factory.name);
    if (mine.length === 0) continue;
    const agreed = factory.negotiate(mine);
    if (agreed === null) continue;
    responses.push(agreed.response);
    extensions.push(agreed.extension);
  }
  return { responses, extensions };
}
