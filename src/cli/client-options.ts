/**
 * The options `wsx connect` and `wsx bench` share for opening a connection
 * (headers, subprotocols, credentials, TLS, compression, limits), their help
 * text, and their translation into {@link ConnectOptions}.
 */
import type { ConnectOptions } from "../index.js";
import { flag, listOption, readOptionFile, secondsOption, sizeOption, stringOption, type OptionSpecs, type OptionValues } from "./args.js";
import { usageError } from "./exit.js";

export const CLIENT_OPTION_SPECS = {
  header: { type: "string", short: "H", multiple: true },
  subprotocol: { type: "string", short: "s", multiple: true },
  auth: { type: "string" },
  cookie: { type: "string", multiple: true },
  origin: { type: "string" },
  ca: { type: "string" },
  insecure: { type: "boolean", short: "k" },
  compress: { type: "boolean" },
  proxy: { type: "string" },
  "no-proxy": { type: "boolean" },
  "max-message-size": { type: "string" },
  "max-frame-size": { type: "string" },
  timeout: { type: "string" },
} as const satisfies OptionSpecs;

export const CLIENT_OPTIONS_HELP = `Connection options:
  -H, --header 'Name: value'   add a request header (repeatable)
  -s, --subprotocol NAME       offer a subprotocol (repeatable, or a comma-separated list)
      --auth USER:PASSWORD     HTTP basic authentication (user:password@ in the URL works too)
      --cookie 'a=1; b=2'      send cookies (repeatable)
      --origin URL             set the Origin header, as a browser would
      --ca FILE                trust this CA certificate (PEM) for wss://
  -k, --insecure               do not verify the server's TLS certificate
      --compress               offer permessage-deflate
      --proxy URL              connect through this proxy: http://, https://, socks5:// or socks5h://,
                               user:password@ allowed (default: HTTPS_PROXY, HTTP_PROXY, ALL_PROXY
                               and NO_PROXY from the environment, as curl reads them)
      --no-proxy               connect directly, whatever the environment says
      --max-message-size SIZE  largest message accepted (like 64k, 16m; default 64m)
      --max-frame-size SIZE    largest frame accepted (default 64m)
      --timeout S              seconds allowed to connect and complete the handshake (default 10)`;

const DEFAULT_TIMEOUT_MS = 10_000;

/** "Name: value" into a header pair. */
function headerPair(text: string): [string, string] {
  const colon = text.indexOf(":");
  if (colon <= 0) throw usageError(`--header must look like 'Name: value', not '${text}'`);
  return [text.slice(0, colon).trim(), text.slice(colon + 1).trim()];
}

/** The connect() options the command line asks for. */
export function clientOptionsFrom(values: OptionValues): ConnectOptions {
  const options: ConnectOptions = { timeout: secondsOption(values, "timeout", DEFAULT_TIMEOUT_MS, 0.001) };
  const headers = listOption(values, "header").map(headerPair);
  if (headers.length > 0) options.headers = headers;
  const protocols = listOption(values, "subprotocol").flatMap((list) => list.split(",").map((name) => name.trim()));
  if (protocols.length > 0) options.protocols = protocols;
  const auth = stringOption(values, "auth");
  if (auth !== undefined) {
    if (!auth.includes(":")) throw usageError("--auth must look like user:password");
    options.auth = auth;
  }
  const cookies = listOption(values, "cookie");
  if (cookies.length > 0) options.cookies = cookies.join("; ");
  const origin = stringOption(values, "origin");
  if (origin !== undefined) options.origin = origin;
  const ca = stringOption(values, "ca");
  if (ca !== undefined || flag(values, "insecure")) {
    options.tls = {
      ...(ca === undefined ? {} : { ca: readOptionFile("ca", ca) }),
      ...(flag(values, "insecure") ? { rejectUnauthorized: false } : {}),
    };
  }
  if (flag(values, "compress")) options.compression = true;
  const proxy = stringOption(values, "proxy");
  if (proxy !== undefined && flag(values, "no-proxy")) throw usageError("--proxy and --no-proxy exclude each other");
  if (proxy !== undefined) options.proxy = proxy;
  if (flag(values, "no-proxy")) options.proxy = false;
  const maxMessageSize = sizeOption(values, "max-message-size", undefined, 1);
  if (maxMessageSize !== undefined) options.maxMessageSize = maxMessageSize;
  const maxFrameSize = sizeOption(values, "max-frame-size", undefined, 1);
  if (maxFrameSize !== undefined) options.maxFrameSize = maxFrameSize;
  return options;
}
