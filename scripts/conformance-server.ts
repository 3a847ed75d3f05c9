/**
 * Echo server for WebSocket conformance suites (the fuzzing-client mode of
 * the usual test harness): every message comes back with its own type, text
 * as text and binary as binary.
 *
 *   npm run conformance:server -- --port 9001 [--host 127.0.0.1]
 *
 * `--port 0` picks a free port. Once ready the server prints exactly one line
 * `listening on ws://HOST:PORT` (with the real port); SIGINT or SIGTERM close
 * every connection with 1001 and exit 0.
 */
import { parseArgs } from "node:util";
import { ConnectionClosedError, DEFAULT_LIMITS, serve, type ServerOptions } from "../src/index.js";

const USAGE = "usage: conformance-server [--port 9001] [--host 127.0.0.1]";
const MiB = 1024 * 1024;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

let args: { port?: string; host?: string; help?: boolean };
try {
  args = parseArgs({
    options: {
      port: { type: "string", short: "p" },
      host: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: false,
  }).values;
} catch (error) {
  fail((error as Error).message);
}
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

const port = Number(args.port ?? 9001);
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --port ${args.port}`);
const host = args.host ?? "127.0.0.1";

const options: ServerOptions = {
  port,
  host,
  // Fuzzing suites send messages of up to 16 MiB, in one frame or as tens of
  // thousands of fragments: never go below wsx's own (already generous) defaults.
  maxFrameSize: Math.max(DEFAULT_LIMITS.maxFrameSize, 64 * MiB),
  maxMessageSize: Math.max(DEFAULT_LIMITS.maxMessageSize, 64 * MiB),
  maxFragments: Math.max(DEFAULT_LIMITS.maxFragments, 256 * 1024),
  // Every extension wsx supports: permessage-deflate, accepting whatever the
  // client asks for (no_context_takeover either way, any max_window_bits), so
  // the suite's compression cases run. The threshold is 0 so every message is
  // compressed, as those cases expect.
  compression: { threshold: 0 },
};

const server = await serve(options, async (ws) => {
  try {
    for await (const message of ws) await ws.send(message);
  } catch (error) {
    // The peer closed (or failed) while an echo was in flight: nothing left to do.
    if (!(error instanceof ConnectionClosedError)) throw error;
  }
});
server.on("error", (error) => console.error(`handler error: ${error.message}`));

const shown = host.includes(":") ? `[${host}]` : host;
console.log(`listening on ws://${shown}:${server.port}`);

let stopping = false;
const stop = (signal: NodeJS.Signals): void => {
  if (stopping) {
    // A second signal: do not wait for the peers any longer.
    process.exit(130);
  }
  stopping = true;
  console.log(`${signal}: closing ${server.clients.size} connection(s)`);
  server.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(`close failed: ${String(error)}`);
      process.exit(1);
    },
  );
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
