/**
 * What `wsx connect` prints about a connection: for people, marked lines
 * (`<` received, `>` sent, `*` status) with control characters made
 * visible; for scripts (`--json`), one JSON object a line on stdout.
 */
import type { CloseInfo } from "../index.js";
import type { Style } from "./style.js";

export type BinaryFormat = "hex" | "base64";
export type Direction = "in" | "out";

/** Where lines go: stdout for messages, stderr for status (an interactive console prints them above its prompt). */
export interface LineSink {
  out(line: string): void;
  err(line: string): void;
}

export interface Transcript {
  open(url: string, protocol: string | null, extensions: string): void;
  message(direction: Direction, type: "text" | "binary", data: string | Uint8Array): void;
  ping(direction: Direction, payload: Uint8Array): void;
  pong(rtt: number): void;
  close(info: CloseInfo, initiator: "client" | "server"): void;
  error(error: unknown, code?: string, status?: number): void;
  /** A note for people (hints, command feedback); scripts do not see it. */
  note(text: string): void;
}

function binaryText(bytes: Uint8Array, format: BinaryFormat): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString(format);
}

/** Control characters a peer could use to drive the terminal, shown as escapes instead. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

export function visible(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function describeClose(info: CloseInfo): string {
  const reason = info.reason === "" ? "" : ` "${visible(info.reason)}"`;
  const how = info.wasClean ? "clean" : info.error !== undefined ? `not clean: ${visible(info.error.message)}` : "not clean";
  return `closed ${info.code}${reason} (${how})`;
}

export class HumanTranscript implements Transcript {
  constructor(
    private readonly sink: LineSink,
    private readonly style: { out: Style; err: Style },
    private readonly binary: BinaryFormat,
  ) {}

  private arrow(direction: Direction): string {
    return direction === "in" ? this.style.out.incoming("<") : this.style.out.outgoing(">");
  }

  open(url: string, protocol: string | null, extensions: string): void {
    const details = [protocol === null ? null : `subprotocol ${protocol}`, extensions === "" ? null : `extensions ${extensions}`].filter((d) => d !== null);
    this.sink.err(this.style.err.info(`* connected to ${url}${details.length > 0 ? ` (${details.join("; ")})` : ""}`));
  }

  message(direction: Direction, type: "text" | "binary", data: string | Uint8Array): void {
    const body =
      type === "text"
        ? visible(typeof data === "string" ? data : Buffer.from(data).toString("utf8"))
        : `${this.style.out.dim(`[binary ${(data as Uint8Array).length} bytes]`)} ${binaryText(data as Uint8Array, this.binary)}`;
    this.sink.out(`${this.arrow(direction)} ${body}`);
  }

  ping(direction: Direction, payload: Uint8Array): void {
    const data = payload.length === 0 ? "" : ` ${binaryText(payload, this.binary)}`;
    this.sink.out(`${this.arrow(direction)} ${this.style.out.dim("[ping]")}${data}`);
  }

  pong(rtt: number): void {
    this.sink.out(`${this.arrow("in")} ${this.style.out.dim("[pong]")} ${rtt.toFixed(2)} ms`);
  }

  close(info: CloseInfo, initiator: "client" | "server"): void {
    const line = `* ${describeClose(info)}${initiator === "server" ? " by the server" : ""}`;
    this.sink.err(info.wasClean ? this.style.err.info(line) : this.style.err.error(line));
  }

  error(error: unknown): void {
    this.sink.err(this.style.err.error(`! ${visible(error instanceof Error ? error.message : String(error))}`));
  }

  note(text: string): void {
    this.sink.err(this.style.err.dim(text));
  }
}

export class JsonTranscript implements Transcript {
  constructor(
    private readonly sink: LineSink,
    private readonly binary: BinaryFormat,
  ) {}

  private emit(record: Record<string, unknown>): void {
    this.sink.out(JSON.stringify(record));
  }

  open(url: string, protocol: string | null, extensions: string): void {
    this.emit({ event: "open", url, protocol, extensions });
  }

  message(direction: Direction, type: "text" | "binary", data: string | Uint8Array): void {
    if (type === "text") {
      const text = typeof data === "string" ? data : Buffer.from(data).toString("utf8");
      this.emit({ event: "message", direction, type, size: Buffer.byteLength(text), data: text });
    } else {
      const bytes = data as Uint8Array;
      this.emit({ event: "message", direction, type, size: bytes.length, encoding: this.binary, data: binaryText(bytes, this.binary) });
    }
  }

  ping(direction: Direction, payload: Uint8Array): void {
    this.emit({ event: "ping", direction, encoding: this.binary, data: binaryText(payload, this.binary) });
  }

  pong(rtt: number): void {
    this.emit({ event: "pong", direction: "in", rtt: Math.round(rtt * 1000) / 1000 });
  }

  close(info: CloseInfo, initiator: "client" | "server"): void {
    this.emit({
      event: "close",
      code: info.code,
      reason: info.reason,
      wasClean: info.wasClean,
      initiator,
      ...(info.error === undefined ? {} : { error: info.error.message }),
    });
  }

  error(error: unknown, code?: string, status?: number): void {
    this.emit({
      event: "error",
      ...(code === undefined ? {} : { code }),
      ...(status === undefined ? {} : { status }),
      message: error instanceof Error ? error.message : String(error),
    });
  }

  note(): void {}
}
