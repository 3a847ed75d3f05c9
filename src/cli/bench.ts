/**
 * `wsx bench URL`: load an echo server (`wsx serve --echo` or any other)
 * with N connections, each keeping K messages in flight for a while, and
 * report throughput and round-trip latency. Every message sent is waited
 * for, so at the end "sent" and "received" match the server's own counts.
 */
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { connect, type ConnectOptions, type WebSocket } from "../index.js";
import { commandLine, flag, integerOption, secondsOption, sizeOption, urlArgument, type OptionSpecs } from "./args.js";
import { CLIENT_OPTIONS_HELP, CLIENT_OPTION_SPECS, clientOptionsFrom } from "./client-options.js";
import { EXIT_CODES_HELP, ExitCode, type ExitCodeValue } from "./exit.js";
import { byteSize, count, table } from "./format.js";
import { LatencyHistogram } from "./histogram.js";

const SPECS = {
  ...CLIENT_OPTION_SPECS,
  connections: { type: "string", short: "c" },
  size: { type: "string" },
  "in-flight": { type: "string", short: "f" },
  duration: { type: "string", short: "d" },
  text: { type: "boolean" },
  json: { type: "boolean" },
} as const satisfies OptionSpecs;

export const BENCH_HELP = `Usage: wsx bench [options] URL

Load a WebSocket echo server (wsx serve --echo, or any server that sends
each message back) and measure it. Each connection keeps a number of
messages in flight: every echo received is timed and answered with a new
message until the duration is over; then the messages still in flight are
waited for and the connections closed with 1000. A progress line is shown
on stderr each second (updated in place on a terminal), then a table on
stdout: messages per second, MB/s (echoed payload, 10^6 bytes) and the
round-trip latency percentiles.

Options:
  -c, --connections N     connections to open (default 10)
      --size SIZE         payload of each message (like 64, 4k, 1m; default 64)
  -f, --in-flight N       messages in flight per connection (default 1)
  -d, --duration S        seconds to send for (default 5)
      --text              send text messages (default binary)
      --json              print the result as one JSON object instead of the table
  -h, --help              this help

${CLIENT_OPTIONS_HELP}

${EXIT_CODES_HELP}
  After connecting, wsx bench exits 1 when a connection ended early or an
  echo did not match what was sent.
`;

const CONNECT_BATCH = 100;
const DRAIN_TIMEOUT_MS = 10_000;
const PROGRESS_INTERVAL_MS = 1000;

interface BenchSettings {
  url: string;
  connections: number;
  size: number;
  inFlight: number;
  durationMs: number;
  type: "text" | "binary";
  options: ConnectOptions;
}

/** What a bench run measured; the `--json` output. */
export interface BenchResult {
  url: string;
  connections: number;
  size: number;
  type: "text" | "binary";
  inFlight: number;
  extensions: string;
  durationMs: number;
  sent: number;
  received: number;
  errors: number;
  messagesPerSecond: number;
  megabytesPerSecond: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

function payloadFor(type: "text" | "binary", size: number): string | Buffer {
  if (type === "binary") return randomBytes(size);
  const words = "wsx bench text payload 0123456789 ";
  return words.repeat(Math.ceil(size / words.length)).slice(0, size);
}

/** Open `total` connections, a batch at a time; on a failure close those already open. */
async function openConnections(url: string, total: number, options: ConnectOptions): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  try {
    while (sockets.length < total) {
      const batch = Math.min(CONNECT_BATCH, total - sockets.length);
      const opened = await Promise.allSettled(Array.from({ length: batch }, () => connect(url, options)));
      for (const result of opened) if (result.status === "fulfilled") sockets.push(result.value);
      const failed = opened.find((result) => result.status === "rejected");
      if (failed !== undefined) throw (failed as PromiseRejectedResult).reason;
    }
  } catch (error) {
    for (const ws of sockets) ws.terminate();
    throw error;
  }
  return sockets;
}

/** The load: every connection keeps `inFlight` messages out until told to stop, then drains. */
class Load {
  sent = 0;
  received = 0;
  receivedBytes = 0;
  errors = 0;
  readonly latency = new LatencyHistogram();
  lastEcho = 0;
  private running = true;
  private pending = 0;
  private drained: (() => void) | null = null;

  constructor(
    private readonly sockets: WebSocket[],
    private readonly settings: BenchSettings,
  ) {}

  start(): number {
    const started = performance.now();
    for (const ws of this.sockets) this.drive(ws);
    return started;
  }

  private drive(ws: WebSocket): void {
    const { inFlight, size, type } = this.settings;
    const payload = payloadFor(type, size);
    const expected = typeof payload === "string" ? Buffer.from(payload) : payload;
    // Echoes come back in order on one connection: a ring of send times, oldest first.
    const times = new Float64Array(inFlight);
    let head = 0;
    let tail = 0;
    let outstanding = 0;
    const sendOne = (): void => {
      times[tail] = performance.now();
      tail = (tail + 1) % inFlight;
      outstanding++;
      this.pending++;
      this.sent++;
      ws.send(payload).catch(() => {}); // a failed send shows as the connection's early close
    };
    ws.on("message", (message) => {
      const now = performance.now();
      if (outstanding === 0) {
        this.errors++; // nothing was in flight: not an echo of ours
        return;
      }
      this.latency.record(now - times[head]!);
      head = (head + 1) % inFlight;
      outstanding--;
      this.pending--;
      this.received++;
      this.receivedBytes += message.bytes.length;
      this.lastEcho = now;
      if (message.type !== type || !expected.equals(message.bytes)) this.errors++; // not an echo of what was sent
      if (this.running) sendOne();
      else this.checkDrained();
    });
    ws.on("error", () => {});
    void ws.closed.then(() => {
      if (this.running) this.errors++; // closed before the end
      this.pending -= outstanding;
      outstanding = 0;
      this.checkDrained();
    });
    for (let i = 0; i < inFlight; i++) sendOne();
  }

  private checkDrained(): void {
    if (this.pending === 0) this.drained?.();
  }

  /** Stop sending; resolves when every message in flight came back (or after a bound). */
  async stop(): Promise<void> {
    this.running = false;
    if (this.pending === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      new Promise<void>((resolve) => (this.drained = resolve)),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, DRAIN_TIMEOUT_MS))),
    ]);
    clearTimeout(timer); // what never came back shows as sent > received
  }
}

/** The live line: seconds, rate of the last interval, percentiles so far. */
class Progress {
  private lastReceived = 0;
  private lastTime: number;
  private readonly timer: NodeJS.Timeout;
  private readonly live = process.stderr.isTTY === true;

  constructor(
    private readonly load: Load,
    private readonly started: number,
    private readonly durationMs: number,
    private readonly size: number,
  ) {
    this.lastTime = started;
    this.timer = setInterval(() => this.show(), PROGRESS_INTERVAL_MS);
  }

  private show(): void {
    const now = performance.now();
    const rate = ((this.load.received - this.lastReceived) * 1000) / (now - this.lastTime);
    this.lastReceived = this.load.received;
    this.lastTime = now;
    const elapsed = Math.min(now - this.started, this.durationMs) / 1000;
    const line =
      `${elapsed.toFixed(0)}/${(this.durationMs / 1000).toFixed(0)} s  ${count(rate)} msg/s  ${((rate * this.size) / 1e6).toFixed(2)} MB/s  ` +
      `p50 ${this.load.latency.percentile(50).toFixed(3)} ms  p99 ${this.load.latency.percentile(99).toFixed(3)} ms  errors ${this.load.errors}`;
    process.stderr.write(this.live ? `\r\u001b[K${line}` : `${line}\n`);
  }

  stop(): void {
    clearInterval(this.timer);
    if (this.live) process.stderr.write("\r\u001b[K");
  }
}

export async function runBenchLoad(settings: BenchSettings, showProgress: boolean): Promise<BenchResult> {
  const sockets = await openConnections(settings.url, settings.connections, settings.options);
  const load = new Load(sockets, settings);
  const started = load.start();
  const progress = showProgress ? new Progress(load, started, settings.durationMs, settings.size) : null;
  await new Promise((resolve) => setTimeout(resolve, settings.durationMs));
  await load.stop();
  progress?.stop();
  const elapsed = (load.received > 0 ? load.lastEcho : performance.now()) - started;
  await Promise.all(sockets.map((ws) => ws.close(1000)));
  const latency = load.latency;
  const round = (value: number, digits: number): number => Number(value.toFixed(digits));
  return {
    url: settings.url,
    connections: settings.connections,
    size: settings.size,
    type: settings.type,
    inFlight: settings.inFlight,
    extensions: sockets[0]?.extensions ?? "",
    durationMs: round(elapsed, 1),
    sent: load.sent,
    received: load.received,
    errors: load.errors,
    messagesPerSecond: round((load.received * 1000) / elapsed, 1),
    megabytesPerSecond: round((load.receivedBytes * 1000) / elapsed / 1e6, 3),
    latencyMs: {
      p50: round(latency.percentile(50), 3),
      p90: round(latency.percentile(90), 3),
      p99: round(latency.percentile(99), 3),
      max: round(latency.max, 3),
      mean: round(latency.mean, 3),
    },
  };
}

export function formatBenchResult(result: BenchResult): string {
  const compression = result.extensions === "" ? "no compression" : result.extensions;
  const ms = (value: number): string => value.toFixed(3);
  return [
    `${result.url}: ${result.connections} connections, ${byteSize(result.size)} ${result.type} messages, ${result.inFlight} in flight each, ${compression}`,
    `${(result.durationMs / 1000).toFixed(2)} s: sent ${count(result.sent)}, received ${count(result.received)}, errors ${count(result.errors)}`,
    "",
    table([
      ["msgs/s", "MB/s", "p50 ms", "p90 ms", "p99 ms", "max ms"],
      [count(result.messagesPerSecond), result.megabytesPerSecond.toFixed(2), ms(result.latencyMs.p50), ms(result.latencyMs.p90), ms(result.latencyMs.p99), ms(result.latencyMs.max)],
    ]),
    "",
  ].join("\n");
}

export async function runBench(args: string[]): Promise<ExitCodeValue> {
  const parsed = commandLine("bench", args, SPECS, BENCH_HELP, 1);
  if (parsed === null) return ExitCode.OK;
  const { values, positionals } = parsed;
  const settings: BenchSettings = {
    url: urlArgument("bench", positionals),
    connections: integerOption(values, "connections", 10, 1, 100_000),
    size: sizeOption(values, "size", 64, 0, 1 << 30)!,
    inFlight: integerOption(values, "in-flight", 1, 1, 100_000),
    durationMs: secondsOption(values, "duration", 5000, 0.001),
    type: flag(values, "text") ? "text" : "binary",
    options: clientOptionsFrom(values),
  };
  const json = flag(values, "json");
  const result = await runBenchLoad(settings, true);
  process.stdout.write(json ? `${JSON.stringify(result)}\n` : formatBenchResult(result));
  return result.errors === 0 && result.sent === result.received ? ExitCode.OK : ExitCode.ABNORMAL_CLOSE;
}
