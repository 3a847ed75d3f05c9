/**
 * Client for the fuzzing-server mode of the usual WebSocket conformance
 * harness. The protocol: `/getCaseCount` sends the number of cases as one
 * text message; `/runCase?case=I&agent=A` runs case I (echo every message back
 * with its own type until the connection closes); `/updateReports?agent=A`
 * writes the reports and closes.
 *
 *   npm run conformance:client -- ws://127.0.0.1:9001 --agent wsx [--case-timeout 60000]
 *
 * Every case is isolated: a refused handshake, a protocol error, a hang (cut
 * off after --case-timeout ms) or an exception is logged, and the run moves on.
 * Prints one line per case, `case I/N: closed CODE ...`. Exits 0 once the run
 * completed and the reports were requested, 1 when the harness could not be
 * reached, 2 on bad arguments.
 */
import { parseArgs } from "node:util";
import { ConnectionClosedError, DEFAULT_LIMITS, connect, type CloseInfo, type ConnectOptions, type WebSocket } from "../src/index.js";

const USAGE = "usage: conformance-client [ws://127.0.0.1:9001] [--agent wsx] [--case-timeout 60000]";

function usage(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

let parsed: { values: { agent?: string; "case-timeout"?: string; help?: boolean }; positionals: string[] };
try {
  parsed = parseArgs({
    options: {
      agent: { type: "string", short: "a" },
      "case-timeout": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
    allowPositionals: true,
  });
} catch (error) {
  usage((error as Error).message);
}
if (parsed.values.help) {
  console.log(USAGE);
  process.exit(0);
}
if (parsed.positionals.length > 1) usage("expected at most one server URL");

let base: URL;
try {
  base = new URL(parsed.positionals[0] ?? "ws://127.0.0.1:9001");
} catch {
  usage(`not a URL: ${parsed.positionals[0]}`);
}
if (base.protocol !== "ws:" && base.protocol !== "wss:") usage(`not a ws:// or wss:// URL: ${base.href}`);
const agent = parsed.values.agent ?? "wsx";
if (agent === "") usage("--agent must not be empty");
const caseTimeout = Number(parsed.values["case-timeout"] ?? 60_000);
if (!Number.isFinite(caseTimeout) || caseTimeout <= 0) usage(`invalid --case-timeout ${parsed.values["case-timeout"]}`);

const MiB = 1024 * 1024;

/**
 * Options of every connection. The suite sends messages of up to 16 MiB, in
 * one frame or as tens of thousands of fragments: never go below wsx's own
 * (already generous) defaults.
 */
const connectOptions: ConnectOptions = {
  maxFrameSize: Math.max(DEFAULT_LIMITS.maxFrameSize, 64 * MiB),
  maxMessageSize: Math.max(DEFAULT_LIMITS.maxMessageSize, 64 * MiB),
  maxFragments: Math.max(DEFAULT_LIMITS.maxFragments, 256 * 1024),
  // Offer permessage-deflate so the suite's compression cases run (every message compressed).
  compression: { threshold: 0 },
};

/** URL of one harness endpoint, below whatever path the base URL has. */
function endpoint(name: string, params: Record<string, string | number>): URL {
  const url = new URL(base.href);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/${name}`;
  url.search = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)])).toString();
  return url;
}

/** How one session ended. */
type Outcome =
  | { kind: "closed"; info: CloseInfo; timedOut: boolean; messages: number }
  | { kind: "failed"; error: Error; timedOut: boolean };

/**
 * Open `url`, echo every message with its own type until the connection
 * closes, and report how it ended. `onOpen` may take over reading instead of
 * echoing. Everything, the handshake included, is bounded by `deadline` ms;
 * after that the connection is terminated (the close code is then 1006).
 */
async function session(url: URL, deadline: number, onOpen?: (ws: WebSocket) => Promise<void>): Promise<Outcome> {
  const abort = new AbortController();
  let ws: WebSocket | undefined;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort(new Error(`no result within ${deadline} ms`));
    ws?.terminate();
  }, deadline);
  try {
    try {
      ws = await connect(url, { ...connectOptions, signal: abort.signal, timeout: deadline, closeTimeout: Math.min(deadline, 5000) });
    } catch (error) {
      return { kind: "failed", error: error instanceof Error ? error : new Error(String(error)), timedOut };
    }
    if (timedOut) ws.terminate();
    let messages = 0;
    let failure: Error | undefined;
    try {
      if (onOpen !== undefined) {
        await onOpen(ws);
      } else {
        for await (const message of ws) {
          messages++;
          try {
            await ws.send(message);
          } catch (error) {
            // Closing under our feet: keep reading until the close completes.
            if (!(error instanceof ConnectionClosedError)) throw error;
          }
        }
      }
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
      ws.terminate();
    }
    const info = await ws.closed;
    if (failure !== undefined) return { kind: "failed", error: failure, timedOut };
    return { kind: "closed", info, timedOut, messages };
  } finally {
    clearTimeout(timer);
  }
}

function describeError(error: Error): string {
  const code = (error as { code?: unknown }).code;
  return `${error.name}${typeof code === "string" ? ` ${code}` : ""}: ${error.message}`;
}

function describe(outcome: Outcome): string {
  if (outcome.kind === "failed") {
    const timeout = outcome.timedOut ? `timed out after ${caseTimeout} ms: ` : "";
    return `failed (${timeout}${describeError(outcome.error)})`;
  }
  const { info, timedOut, messages } = outcome;
  const notes: string[] = [`${messages} message${messages === 1 ? "" : "s"}`];
  if (info.reason !== "") notes.push(`reason ${JSON.stringify(info.reason)}`);
  if (timedOut) notes.push(`timed out after ${caseTimeout} ms, terminated`);
  else if (!info.wasClean) notes.push("not clean");
  if (info.error !== undefined) notes.push(describeError(info.error));
  return `closed ${info.code} (${notes.join(", ")})`;
}

// ---- 1. how many cases

let count = -1;
const counted = await session(endpoint("getCaseCount", {}), caseTimeout, async (ws) => {
  const message = await ws.receive({ timeout: caseTimeout });
  const text = message.type === "text" ? message.text.trim() : "";
  if (!/^\d+$/.test(text)) throw new Error(`getCaseCount sent ${JSON.stringify(message.data)}, not a number`);
  count = Number(text);
  // The harness closes after the count; answer and wait for it.
  for await (const _ of ws);
});
if (count < 0) {
  console.error(`cannot get the case count from ${base.href}: ${describe(counted)}`);
  process.exit(1);
}
console.log(`${count} cases on ${base.href} as agent ${JSON.stringify(agent)}`);

// ---- 2. every case, each isolated from the others

const started = Date.now();
for (let i = 1; i <= count; i++) {
  let line: string;
  try {
    line = describe(await session(endpoint("runCase", { case: i, agent }), caseTimeout));
  } catch (error) {
    line = `failed (${describeError(error instanceof Error ? error : new Error(String(error)))})`;
  }
  console.log(`case ${i}/${count}: ${line}`);
}
console.log(`ran ${count} cases in ${((Date.now() - started) / 1000).toFixed(1)} s`);

// ---- 3. reports

const reported = await session(endpoint("updateReports", { agent }), caseTimeout);
if (reported.kind === "failed" || reported.timedOut) {
  console.error(`updateReports: ${describe(reported)}`);
  process.exit(1);
}
console.log(`updateReports: ${describe(reported)}`);
process.exit(0);
