/**
 * `wsx connect URL`: talk to a WebSocket server from a terminal or a script,
 * like wscat or websocat. Typed lines (or piped lines, or `-x` messages) are
 * sent as text; what arrives is printed with its direction and type.
 */
import { ProtocolError, connect, type CloseInfo, type WebSocket } from "../index.js";
import { choiceOption, commandLine, flag, integerOption, listOption, secondsOption, urlArgument, type OptionSpecs } from "./args.js";
import { CLIENT_OPTIONS_HELP, CLIENT_OPTION_SPECS, clientOptionsFrom } from "./client-options.js";
import { InteractiveConsole, forEachLine, plainSink } from "./console.js";
import { EXIT_CODES_HELP, ExitCode, refusedStatus, type ExitCodeValue } from "./exit.js";
import { styleFor } from "./style.js";
import { HumanTranscript, JsonTranscript, type BinaryFormat, type LineSink, type Transcript } from "./transcript.js";

const SPECS = {
  ...CLIENT_OPTION_SPECS,
  execute: { type: "string", short: "x", multiple: true },
  wait: { type: "string", short: "w" },
  count: { type: "string", short: "n" },
  json: { type: "boolean" },
  binary: { type: "string" },
} as const satisfies OptionSpecs;

const COMMANDS_HELP = `Commands at the prompt:
  /ping [text]            send a ping; the pong's round-trip time is printed
  /close [code] [reason]  close the connection (default code 1000)
  //text                  send a line that starts with "/"
  /help                   this list
  Ctrl-C closes with 1000 (press it again to drop the connection); Ctrl-D too.`;

export const CONNECT_HELP = `Usage: wsx connect [options] URL

Open a WebSocket connection (ws:// or wss://; ws:// is assumed without a
scheme) and talk over it. Typed lines are sent as text messages. What
arrives is printed on stdout: "<" received, ">" sent, binary messages as
"[binary N bytes]" and their payload in hex or base64. Status lines ("*")
go to stderr. When standard input is not a terminal, each of its lines is
sent as a text message (as they are: no commands), then the connection is
closed: echo hi | wsx connect ws://127.0.0.1:8080

${COMMANDS_HELP}

Options:
  -x, --execute MSG            send MSG (repeatable), then close; standard input is not read
  -w, --wait S                 after the last message of -x or of standard input, wait S seconds
                               for replies before closing with 1000 (default 1)
  -n, --count N                close with 1000 once N messages have been received
      --json                   one JSON object a line on stdout: open, message (direction in or
                               out, type, size, data), ping, pong (rtt in ms), close (code,
                               reason, wasClean, initiator), error (code, status, message)
      --binary hex|base64      how binary payloads are shown (default hex)
  -h, --help                   this help

${CLIENT_OPTIONS_HELP}

${EXIT_CODES_HELP}
  A close counts as normal when the close handshake completed and either
  wsx closed (Ctrl-C, /close, end of input) or the server closed with
  1000, 1001 or no code.
`;

/** Close codes from the server that still mean "all went well". */
const NORMAL_SERVER_CODES = new Set([1000, 1001, 1005]);
const DEFAULT_WAIT_MS = 1000;
const PING_TIMEOUT_MS = 10_000;

interface SessionOptions {
  interactive: boolean;
  count: number;
  waitMs: number;
}

/** One connection's life: sends, commands, the close and its exit code. */
class Session {
  private closedBy: "client" | "server" | null = null;
  private received = 0;
  private interrupted = false;

  constructor(
    readonly ws: WebSocket,
    private readonly transcript: Transcript,
    private readonly options: SessionOptions,
  ) {
    ws.on("message", (message) => {
      transcript.message("in", message.type, message.type === "text" ? message.text : message.bytes);
      this.received++;
      if (options.count > 0 && this.received >= options.count) this.close(1000);
    });
    ws.on("ping", (payload) => transcript.ping("in", payload));
    ws.on("error", () => {}); // reported with the close
    ws.on("close", (info) => {
      // A server that broke a rule or a limit (1002, 1007, 1009) was cut off by wsx.
      this.closedBy ??= info.error instanceof ProtocolError ? "client" : "server";
    });
  }

  get open(): boolean {
    return this.ws.readyState === "open";
  }

  /** Send a text message; false once the connection can no longer send. */
  async send(text: string): Promise<boolean> {
    if (!this.open) return false;
    // Shown as it is handed over, so that it comes before its own echo.
    if (!this.options.interactive) this.transcript.message("out", "text", text);
    try {
      await this.ws.send(text);
    } catch (error) {
      if (this.open) this.transcript.error(error);
      return false;
    }
    return true;
  }

  /** Start the close handshake (once); a bad code or reason is reported and the connection stays open. */
  close(code?: number, reason?: string): void {
    if (!this.open) return;
    this.closedBy = "client";
    this.ws.close(code, reason).catch((error: unknown) => {
      this.closedBy = null;
      this.transcript.error(error);
    });
  }

  /** Ctrl-C: close with 1000; a second one drops the connection. */
  interrupt(): void {
    if (this.interrupted || !this.open) {
      this.ws.terminate();
      return;
    }
    this.interrupted = true;
    this.close(1000);
  }

  /** A line typed at the prompt: a command or a message. */
  line(text: string): void {
    if (text === "") return;
    if (text.startsWith("//")) {
      void this.send(text.slice(1));
      return;
    }
    if (!text.startsWith("/")) {
      void this.send(text);
      return;
    }
    const [command, ...rest] = text.slice(1).split(" ");
    switch (command) {
      case "ping":
        this.ws
          .ping(rest.join(" "), { timeout: PING_TIMEOUT_MS })
          .then((rtt) => this.transcript.pong(rtt))
          .catch((error: unknown) => this.transcript.error(error));
        return;
      case "close": {
        const [code, ...reason] = rest.filter((word, i) => i > 0 || word !== "");
        if (code !== undefined && !/^\d+$/.test(code)) {
          this.transcript.note(`usage: /close [code] [reason] (code is a number, like 1000 or 4000)`);
          return;
        }
        this.close(code === undefined ? 1000 : Number(code), reason.join(" "));
        return;
      }
      case "help":
        this.transcript.note(COMMANDS_HELP);
        return;
      default:
        this.transcript.note(`unknown command /${command} (try /help; //text sends "/text")`);
    }
  }

  /** After the last message to send: wait for replies (or the count), then close. */
  async finish(): Promise<void> {
    if (this.options.waitMs > 0 && this.open) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.ws.closed, new Promise((resolve) => (timer = setTimeout(resolve, this.options.waitMs)))]);
      clearTimeout(timer);
    }
    this.close(1000);
  }

  async ended(): Promise<{ info: CloseInfo; closedBy: "client" | "server" }> {
    const info = await this.ws.closed;
    return { info, closedBy: this.closedBy ?? "server" };
  }
}

export function closeExitCode(info: CloseInfo, closedBy: "client" | "server"): ExitCodeValue {
  if (!info.wasClean) return ExitCode.ABNORMAL_CLOSE;
  if (closedBy === "client" || NORMAL_SERVER_CODES.has(info.code)) return ExitCode.OK;
  return ExitCode.ABNORMAL_CLOSE;
}

export async function runConnect(args: string[]): Promise<ExitCodeValue> {
  const parsed = commandLine("connect", args, SPECS, CONNECT_HELP, 1);
  if (parsed === null) return ExitCode.OK;
  const { values, positionals } = parsed;
  const url = urlArgument("connect", positionals);
  const options = clientOptionsFrom(values);
  const executes = listOption(values, "execute");
  const json = flag(values, "json");
  const binary = choiceOption<BinaryFormat>(values, "binary", ["hex", "base64"], "hex");
  const sessionOptions: SessionOptions = {
    interactive: executes.length === 0 && process.stdin.isTTY === true,
    count: integerOption(values, "count", 0, 1),
    waitMs: secondsOption(values, "wait", DEFAULT_WAIT_MS),
  };

  const plain = plainSink(process.stdout, process.stderr);
  const transcriptFor = (sink: LineSink): Transcript =>
    json ? new JsonTranscript(sink, binary) : new HumanTranscript(sink, { out: styleFor(process.stdout), err: styleFor(process.stderr) }, binary);

  // Ctrl-C while connecting aborts the attempt.
  const abort = new AbortController();
  const onSignal = (): void => abort.abort();
  process.once("SIGINT", onSignal);
  let ws: WebSocket;
  try {
    ws = await connect(url, { ...options, signal: abort.signal });
  } catch (error) {
    if (json) transcriptFor(plain).error(error, (error as { code?: string }).code, refusedStatus(error) ?? undefined);
    throw error;
  } finally {
    process.removeListener("SIGINT", onSignal);
  }

  let prompt: InteractiveConsole | undefined;
  let session: Session | undefined;
  if (sessionOptions.interactive) {
    prompt = new InteractiveConsole(process.stdin, process.stdout, process.stderr, {
      line: (text) => session?.line(text),
      interrupt: () => session?.interrupt(),
      end: () => session?.close(1000),
    });
  }
  const transcript = transcriptFor(prompt ?? plain);
  session = new Session(ws, transcript, sessionOptions);
  transcript.open(ws.url ?? url, ws.protocol, ws.extensions);

  const onInterrupt = (): void => session?.interrupt();
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onInterrupt);
  try {
    if (prompt !== undefined) {
      transcript.note("* type a message and press Enter; /help for commands; Ctrl-C to close");
      prompt.start();
    } else if (executes.length > 0) {
      for (const text of executes) if (!(await session.send(text))) break;
      await session.finish();
    } else {
      // The server may close while the pipe is silent: that ends the reading too.
      await Promise.race([forEachLine(process.stdin, (line) => session.send(line)), ws.closed]);
      await session.finish();
    }
    const { info, closedBy } = await session.ended();
    prompt?.close();
    transcript.close(info, closedBy);
    return closeExitCode(info, closedBy);
  } finally {
    prompt?.close();
    process.removeListener("SIGINT", onInterrupt);
    process.removeListener("SIGTERM", onInterrupt);
  }
}
