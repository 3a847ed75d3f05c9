/**
 * permessage-deflate parameter negotiation (RFC 7692 sections 5 and 7.1):
 * the client's offer, the client's check of the server's answer, and the
 * server's choice among the client's offers.
 */
import { HandshakeError } from "../core/errors.js";
import type { ExtensionOffer, ParsedExtension } from "../core/http.js";
import type { ResolvedDeflateOptions } from "./options.js";

export const EXTENSION_NAME = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS = "client_max_window_bits";

/** What both ends agreed on, as the response states it (absent window bits are 15). */
export interface AgreedParameters {
  /** The server resets its compressor after each message. */
  serverNoContextTakeover: boolean;
  /** The client resets its compressor after each message. */
  clientNoContextTakeover: boolean;
  /** Base-2 log of the server's compression window, 8..15. */
  serverMaxWindowBits: number;
  /** Base-2 log of the client's compression window, 8..15. */
  clientMaxWindowBits: number;
}

/** The parameters of one offer or response, checked for form only. */
interface Params {
  serverNoContextTakeover: boolean;
  clientNoContextTakeover: boolean;
  serverMaxWindowBits: number | undefined;
  /** `true`: present without a value (allowed in an offer only). */
  clientMaxWindowBits: number | true | undefined;
}

/** 1*DIGIT with a value of 8 to 15: no sign, no leading zero, no spaces. */
const WINDOW_BITS = /^(?:[89]|1[0-5])$/;

function windowBits(value: string | true): number | null {
  return value !== true && WINDOW_BITS.test(value) ? Number(value) : null;
}

function describe(value: string | true): string {
  return value === true ? "no value" : JSON.stringify(value);
}

/**
 * Reads the parameters of an offer (`inOffer`) or a response. Returns an
 * explanation instead when they are not well formed: an unknown or repeated
 * parameter, a value where none is allowed, window bits that are not 8..15.
 */
function readParams(list: ReadonlyArray<readonly [string, string | true]>, inOffer: boolean): Params | string {
  const params: Params = {
    serverNoContextTakeover: false,
    clientNoContextTakeover: false,
    serverMaxWindowBits: undefined,
    clientMaxWindowBits: undefined,
  };
  const seen = new Set<string>();
  for (const [name, value] of list) {
    if (seen.has(name)) return `parameter ${name} appears more than once`;
    seen.add(name);
    switch (name) {
      case SERVER_NO_CONTEXT_TAKEOVER:
      case CLIENT_NO_CONTEXT_TAKEOVER:
        if (value !== true) return `parameter ${name} takes no value, got ${describe(value)}`;
        if (name === SERVER_NO_CONTEXT_TAKEOVER) params.serverNoContextTakeover = true;
        else params.clientNoContextTakeover = true;
        break;
      case SERVER_MAX_WINDOW_BITS: {
        const bits = windowBits(value);
        if (bits === null) return `parameter ${name} must be an integer from 8 to 15, got ${describe(value)}`;
        params.serverMaxWindowBits = bits;
        break;
      }
      case CLIENT_MAX_WINDOW_BITS: {
        if (value === true && inOffer) {
          params.clientMaxWindowBits = true;
          break;
        }
        const bits = windowBits(value);
        if (bits === null) return `parameter ${name} must be an integer from 8 to 15, got ${describe(value)}`;
        params.clientMaxWindowBits = bits;
        break;
      }
      default:
        return `unknown parameter ${name}`;
    }
  }
  return params;
}

/** The parameters in order, duplicates kept (`paramList`), falling back to `params`. */
function paramsOf(extension: ExtensionOffer | ParsedExtension): ReadonlyArray<readonly [string, string | true]> {
  const list = (extension as Partial<ParsedExtension>).paramList;
  return Array.isArray(list) ? list : Object.entries(extension.params);
}

/** Client: the single offer made for `options`. */
export function clientOffer(options: ResolvedDeflateOptions): ExtensionOffer {
  const params: Record<string, string | true> = {};
  if (options.serverNoContextTakeover) params[SERVER_NO_CONTEXT_TAKEOVER] = true;
  if (options.clientNoContextTakeover) params[CLIENT_NO_CONTEXT_TAKEOVER] = true;
  if (options.serverMaxWindowBits !== undefined) params[SERVER_MAX_WINDOW_BITS] = String(options.serverMaxWindowBits);
  const clientBits = options.clientMaxWindowBits;
  if (clientBits === true) params[CLIENT_MAX_WINDOW_BITS] = true;
  else if (typeof clientBits === "number") params[CLIENT_MAX_WINDOW_BITS] = String(clientBits);
  return { name: EXTENSION_NAME, params };
}

function invalidResponse(message: string): HandshakeError {
  // verifyServerResponse has already seen the 101, so that is the status.
  return new HandshakeError("INVALID_EXTENSION_RESPONSE", `invalid permessage-deflate response: ${message}`, 101);
}

/**
 * Client: checks the server's acceptance against what `options` offered and
 * returns the agreed parameters. Throws HandshakeError
 * `INVALID_EXTENSION_RESPONSE` for anything the client could not have asked
 * for.
 */
export function acceptResponse(options: ResolvedDeflateOptions, response: ParsedExtension): AgreedParameters {
  if (response.name.toLowerCase() !== EXTENSION_NAME) throw invalidResponse(`unexpected extension ${response.name}`);
  const params = readParams(paramsOf(response), false);
  if (typeof params === "string") throw invalidResponse(params);
  if (options.serverNoContextTakeover && !params.serverNoContextTakeover) {
    throw invalidResponse(`${SERVER_NO_CONTEXT_TAKEOVER} was offered but not accepted`);
  }
  const askedServerBits = options.serverMaxWindowBits;
  if (askedServerBits !== undefined) {
    if (params.serverMaxWindowBits === undefined) {
      throw invalidResponse(`${SERVER_MAX_WINDOW_BITS}=${askedServerBits} was offered but not accepted`);
    }
    if (params.serverMaxWindowBits > askedServerBits) {
      throw invalidResponse(`${SERVER_MAX_WINDOW_BITS}=${params.serverMaxWindowBits} is larger than the ${askedServerBits} offered`);
    }
  }
  const offeredClientBits = options.clientMaxWindowBits;
  let clientBits = typeof offeredClientBits === "number" ? offeredClientBits : 15;
  if (params.clientMaxWindowBits !== undefined) {
    // readParams never returns `true` for a response.
    const answered = params.clientMaxWindowBits as number;
    if (offeredClientBits === false) throw invalidResponse(`${CLIENT_MAX_WINDOW_BITS} was not offered`);
    if (answered > clientBits) {
      throw invalidResponse(`${CLIENT_MAX_WINDOW_BITS}=${answered} is larger than the ${clientBits} offered`);
    }
    clientBits = answered;
  }
  return {
    serverNoContextTakeover: params.serverNoContextTakeover,
    // Offering client_no_context_takeover is a promise the client keeps either way.
    clientNoContextTakeover: params.clientNoContextTakeover || options.clientNoContextTakeover,
    serverMaxWindowBits: params.serverMaxWindowBits ?? 15,
    clientMaxWindowBits: clientBits,
  };
}

/**
 * Server: the answer to one offer under `options`, or null when the offer
 * is malformed or cannot be accepted. Never throws.
 */
export function answerOffer(
  options: ResolvedDeflateOptions,
  offer: ParsedExtension,
): { response: ExtensionOffer; agreed: AgreedParameters } | null {
  if (typeof offer?.name !== "string" || offer.name.toLowerCase() !== EXTENSION_NAME) return null;
  const params = readParams(paramsOf(offer), true);
  if (typeof params === "string") return null;
  const clientLimit = typeof options.clientMaxWindowBits === "number" ? options.clientMaxWindowBits : undefined;
  // A client that did not offer client_max_window_bits may not support a
  // limit on its window (RFC 7692 section 7.1.2.2): decline rather than risk it.
  if (clientLimit !== undefined && params.clientMaxWindowBits === undefined) return null;

  const response: Record<string, string | true> = {};
  const serverNoContextTakeover = params.serverNoContextTakeover || options.serverNoContextTakeover;
  // Echoed when offered too: the client promised it, the answer makes it binding.
  const clientNoContextTakeover = params.clientNoContextTakeover || options.clientNoContextTakeover;
  if (serverNoContextTakeover) response[SERVER_NO_CONTEXT_TAKEOVER] = true;
  if (clientNoContextTakeover) response[CLIENT_NO_CONTEXT_TAKEOVER] = true;

  let serverBits = 15;
  if (params.serverMaxWindowBits !== undefined || options.serverMaxWindowBits !== undefined) {
    serverBits = Math.min(params.serverMaxWindowBits ?? 15, options.serverMaxWindowBits ?? 15);
    response[SERVER_MAX_WINDOW_BITS] = String(serverBits);
  }

  let clientBits = 15;
  const offered = params.clientMaxWindowBits;
  if (offered !== undefined) {
    const offeredBits = offered === true ? 15 : offered;
    if (clientLimit !== undefined || offered !== true) {
      clientBits = Math.min(offeredBits, clientLimit ?? 15);
      response[CLIENT_MAX_WINDOW_BITS] = String(clientBits);
    }
  }

  return {
    response: { name: EXTENSION_NAME, params: response },
    agreed: {
      serverNoContextTakeover,
      clientNoContextTakeover,
      serverMaxWindowBits: serverBits,
      clientMaxWindowBits: clientBits,
    },
  };
}
