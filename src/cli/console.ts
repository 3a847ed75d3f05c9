/**
 * Where `wsx connect` reads what to send: a terminal with a prompt (lines
 * printed meanwhile appear above it, the line being typed is kept), or a
 * pipe read line by line with back-pressure.
 */
import { clearLine, createInterface, cursorTo, type Interface } from "node:readline";
import type { Readable, Writable } from "node:stream";
import type { LineSink } from "./transcript.js";

export interface ConsoleHandler {
  /** A line typed by the user. */
  line(text: string): void;
  /** Ctrl-C. */
  interrupt(): void;
  /** Ctrl-D, or the terminal went away. */
  end(): void;
}

type Tty = Writable & { isTTY?: boolean };

/** A prompt on a terminal; also the sink that prints above it. */
export class InteractiveConsole implements LineSink {
  private readonly rl: Interface;
  private readonly promptStream: Tty | undefined;
  private closed = false;

  constructor(
    input: Readable,
    private readonly stdout: Tty,
    private readonly stderr: Tty,
    handler: ConsoleHandler,
  ) {
    this.promptStream = stdout.isTTY === true ? stdout : stderr.isTTY === true ? stderr : undefined;
    this.rl = createInterface({ input, output: this.promptStream, terminal: this.promptStream !== undefined, prompt: "> " });
    this.rl.on("line", (text) => handler.line(text));
    this.rl.on("SIGINT", () => handler.interrupt());
    this.rl.on("close", () => {
      if (!this.closed) {
        this.closed = true;
        handler.end();
      }
    });
  }

  start(): void {
    this.rl.prompt();
  }

  out(line: string): void {
    this.print(this.stdout, line);
  }

  err(line: string): void {
    this.print(this.stderr, line);
  }

  /** Print above the prompt, then redraw it with what was being typed. */
  private print(stream: Tty, line: string): void {
    const prompt = this.closed ? undefined : this.promptStream;
    if (prompt !== undefined) {
      clearLine(prompt, 0);
      cursorTo(prompt, 0);
    }
    stream.write(`${line}\n`);
    if (prompt !== undefined) this.rl.prompt(true);
  }

  /** Stop reading; the prompt line is cleared. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.promptStream !== undefined) {
      clearLine(this.promptStream, 0);
      cursorTo(this.promptStream, 0);
    }
    this.rl.close();
  }
}

/** Lines of a pipe, one at a time: the next is read only once `send` has taken the previous one. */
export async function forEachLine(input: Readable, send: (line: string) => Promise<boolean>): Promise<void> {
  const rl = createInterface({ input, terminal: false, crlfDelay: Infinity });
  try {
    for await (const line of rl) if (!(await send(line))) break;
  } finally {
    rl.close();
  }
}

/** A sink writing straight to stdout and stderr (no prompt to keep). */
export function plainSink(stdout: Writable, stderr: Writable): LineSink {
  return {
    out: (line) => void stdout.write(`${line}\n`),
    err: (line) => void stderr.write(`${line}\n`),
  };
}
