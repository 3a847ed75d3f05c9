/**
 * `wsx serve`: a WebSocket server for trying clients out. Messages are
 * echoed (`--echo`), passed to every other client (`--broadcast`, on wsx's
 * pub/sub) or printed; `--static DIR` serves files over HTTP on the same
 * port. Every connection and close is logged; SIGINT/SIGTERM close the
 * server (1001 to each client) and print its stats.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type Message, type ServerOptions, type WebSocket } from "../index.js";
import { commandLine, flag, integerOption, listOption, readOptionFile, sizeOption, stringOption, type OptionSpecs } from "./args.js";
import { CommandError, EXIT_CODES_HELP, ExitCode, usageError, type ExitCodeValue } from "./exit.js";
import { HumanServeLog, JsonServeLog, type ServeLog } from "./serve-log.js";
import { serveStatic, staticRoot } from "./static-files.js";
import { styleFor } from "./style.js";

const SPECS = {
  port: { type: "string", short: "p" },
  host: { type: "string" },
  path: { type: "string" },
  echo: { type: "boolean" },
  broadcast: { type: "boolean" },
  static: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  compress: { type: "boolean" },
  subprotocol: { type: "string", short: "s", multiple: true },
  "max-message-size": { type: "string" },
  verbose: { type: "boolean", short: "v" },
  json: { type: "boolean" },
} as const satisfies OptionSpecs;

export const SERVE_HELP = `Usage: wsx serve [options]

Run a WebSocket server. Each connection is logged with its peer, path,
subprotocol and extensions, each close with its code. Without --echo or
--broadcast, received messages are printed. Ctrl-C (or SIGTERM) closes
every connection with 1001, prints the server's stats (connections,
messages and bytes in and out, closes by code) and exits.

Options:
  -p, --port N              port to listen on (default 8080; 0 picks a free one)
      --host ADDRESS        address to listen on (default 127.0.0.1; 0.0.0.0 or :: for all)
      --path PATH           accept WebSocket connections on this path only (others get 404)
      --echo                send every message back to its sender, with the same type
      --broadcast           send every message to every other client (with --echo: to all)
      --static DIR          serve the files under DIR over HTTP on the same port
                            (index.html for a directory; nothing outside DIR, no dotfiles)
      --tls-cert FILE       certificate (PEM) to serve wss:// and https://; needs --tls-key
      --tls-key FILE        its private key (PEM)
      --compress            accept permessage-deflate when a client offers it
  -s, --subprotocol NAME    a subprotocol the server speaks (repeatable, preferred first)
      --max-message-size SIZE  largest message accepted (like 64k, 16m; default 64m)
  -v, --verbose             print every message received (also with --echo / --broadcast)
      --json                log one JSON object a line: listening, connection, message,
                            close, rejected, http, stats
  -h, --help                this help

${EXIT_CODES_HELP}
`;

const BROADCAST_TOPIC = "broadcast";
/** Bytes waiting for a client's socket beyond which the echo waits for them to drain. */
const ECHO_HIGH_WATER = 64 * 1024;

/**
 * Send `message` back. Waiting for every send to be written would cost an
 * event-loop turn per message (in a one-off run, 3 to 6 times fewer echoes
 * per second); waiting only once the client's socket is behind still stops
 * reading from a client that does not read its echoes, so TCP pushes back.
 */
async function echoBack(ws: WebSocket, message: Message): Promise<void> {
  const sent = ws.send(message);
  if (ws.bufferedAmount > ECHO_HIGH_WATER) await sent;
  else sent.catch(() => {}); // a failed send is the connection's close, logged with it
}

/** host:port as a URL authority (IPv6 in brackets). */
function authority(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

function peerOf(address: string | undefined, port: number | undefined): string {
  return address === undefined ? "unknown" : authority(address, port ?? 0);
}

function listen(server: HttpServer, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void =>
      reject(new CommandError("LISTEN_FAILED", `cannot listen on ${authority(host, port)}: ${error.code ?? error.message}`, ExitCode.UNREACHABLE, { cause: error }));
    server.once("error", onError);
    server.listen(port, host, () => {
      server.removeListener("error", onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

export async function runServe(args: string[]): Promise<ExitCodeValue> {
  const parsed = commandLine("serve", args, SPECS, SERVE_HELP, 0);
  if (parsed === null) return ExitCode.OK;
  const { values } = parsed;
  const port = integerOption(values, "port", 8080, 0, 65535);
  const host = stringOption(values, "host") ?? "127.0.0.1";
  const echo = flag(values, "echo");
  const broadcast = flag(values, "broadcast");
  const print = flag(values, "verbose") || (!echo && !broadcast);
  const staticDir = stringOption(values, "static");
  const root = staticDir === undefined ? undefined : staticRoot(staticDir);
  const certFile = stringOption(values, "tls-cert");
  const keyFile = stringOption(values, "tls-key");
  if ((certFile === undefined) !== (keyFile === undefined)) throw usageError("--tls-cert and --tls-key go together");
  const tls = certFile === undefined ? undefined : { cert: readOptionFile("tls-cert", certFile), key: readOptionFile("tls-key", keyFile!) };
  const protocols = listOption(values, "subprotocol");
  const path = stringOption(values, "path");
  if (path !== undefined && !path.startsWith("/")) throw usageError(`--path must start with "/", not '${path}'`);
  const maxMessageSize = sizeOption(values, "max-message-size", undefined, 1);

  const write = (line: string): void => void process.stdout.write(`${line}\n`);
  const log: ServeLog = flag(values, "json") ? new JsonServeLog(write) : new HumanServeLog(write, styleFor(process.stdout));

  const options: ServerOptions = {};
  if (path !== undefined) options.path = path;
  if (protocols.length > 0) options.protocols = protocols;
  if (flag(values, "compress")) options.compression = true;
  if (maxMessageSize !== undefined) options.maxMessageSize = maxMessageSize;

  let nextId = 1;
  const wss = new WebSocketServer(options, async (ws, request) => {
    const who = { id: nextId++, peer: peerOf(request.remoteAddress, request.remotePort) };
    log.connection(who, request.target, ws.protocol, ws.extensions);
    void ws.closed.then((info) => log.close(who, info));
    if (broadcast) ws.subscribe(BROADCAST_TOPIC);
    // Pull style: while a send waits for a slow client, reading pauses and TCP pushes back.
    for await (const message of ws) {
      if (print) log.message(who, message);
      if (broadcast) wss.publish(BROADCAST_TOPIC, message, { exclude: echo ? null : ws });
      else if (echo) await echoBack(ws, message);
    }
  });
  wss.on("rejected", (error, remoteAddress) => log.rejected(remoteAddress ?? "unknown", error.status, error.code, error.message));
  wss.on("error", () => {}); // a failed echo to a client that went away is that connection's close, logged already

  const onRequest = (request: IncomingMessage, response: ServerResponse): void => {
    const peer = peerOf(request.socket.remoteAddress, request.socket.remotePort);
    response.on("finish", () => log.http(peer, request.method ?? "", request.url ?? "", response.statusCode));
    if (root !== undefined) {
      void serveStatic(root, request, response);
      return;
    }
    const text = "This is a WebSocket endpoint (wsx serve): connect with a WebSocket client, e.g. wsx connect.\n";
    response.writeHead(426, { "Content-Type": "text/plain; charset=utf-8", Upgrade: "websocket", Connection: "Upgrade" }).end(text);
  };
  const http = tls === undefined ? createHttpServer(onRequest) : createHttpsServer(tls, onRequest);
  http.on("upgrade", wss.handleUpgrade);
  const address = await listen(http, port, host);

  const at = authority(address.address, address.port);
  const urls = [`${tls === undefined ? "ws" : "wss"}://${at}${path ?? "/"}`];
  if (root !== undefined) urls.push(`${tls === undefined ? "http" : "https"}://${at}/`);
  const modes = [echo ? "echo" : null, broadcast ? "broadcast" : null, print ? "printing messages" : null, root === undefined ? null : `static files from ${root}`];
  log.listening(urls, modes.filter((mode) => mode !== null));

  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await wss.close();
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
  log.stats(wss.stats);
  return ExitCode.OK;
}
