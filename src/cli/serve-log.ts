/**
 * What `wsx serve` prints on stdout: one line per event (listening, each
 * connection with its peer, subprotocol and extensions, each close with its
 * code, refusals, HTTP requests, messages when asked, the final stats), as
 * text for people or as JSON lines (`--json`).
 */
import type { CloseInfo, Message, ServerStats } from "../index.js";
import { count } from "./format.js";
import type { Style } from "./style.js";
import { describeClose, visible } from "./transcript.js";

export interface ConnectionLabel {
  id: number;
  peer: string;
}

export interface ServeLog {
  listening(urls: string[], modes: string[]): void;
  connection(who: ConnectionLabel, path: string, protocol: string | null, extensions: string): void;
  message(who: ConnectionLabel, message: Message): void;
  close(who: ConnectionLabel, info: CloseInfo): void;
  rejected(peer: string, status: number, code: string, message: string): void;
  http(peer: string, method: string, path: string, status: number): void;
  stats(stats: ServerStats): void;
}

type Write = (line: string) => void;

export class HumanServeLog implements ServeLog {
  constructor(
    private readonly write: Write,
    private readonly style: Style,
  ) {}

  listening(urls: string[], modes: string[]): void {
    this.write(this.style.info(`* listening on ${urls.join(" and ")} (${modes.join(", ")}); Ctrl-C stops`));
  }

  connection(who: ConnectionLabel, path: string, protocol: string | null, extensions: string): void {
    const details = [`subprotocol ${protocol ?? "none"}`, `extensions ${extensions === "" ? "none" : extensions}`];
    this.write(`${this.style.incoming("+")} #${who.id} ${who.peer} ${visible(path)} (${details.join("; ")})`);
  }

  message(who: ConnectionLabel, message: Message): void {
    const body = message.type === "text" ? visible(message.text) : `${this.style.dim(`[binary ${message.bytes.length} bytes]`)} ${Buffer.from(message.bytes).toString("hex")}`;
    this.write(`${this.style.incoming("<")} #${who.id} ${body}`);
  }

  close(who: ConnectionLabel, info: CloseInfo): void {
    this.write(`${this.style.outgoing("-")} #${who.id} ${who.peer} ${describeClose(info)}`);
  }

  rejected(peer: string, status: number, code: string, message: string): void {
    this.write(this.style.error(`! ${peer} refused with HTTP ${status} ${code}: ${visible(message)}`));
  }

  http(peer: string, method: string, path: string, status: number): void {
    this.write(this.style.dim(`  ${peer} ${method} ${visible(path)} ${status}`));
  }

  stats(stats: ServerStats): void {
    const closed = Object.entries(stats.closedByCode).map(([code, n]) => `${code}x${n}`);
    this.write(
      this.style.info(
        `* stats: accepted ${count(stats.accepted)}, rejected ${count(stats.rejected)}, open ${count(stats.connections)}; ` +
          `messages in ${count(stats.messagesIn)}, out ${count(stats.messagesOut)}; ` +
          `bytes in ${count(stats.bytesIn)}, out ${count(stats.bytesOut)}; dropped ${count(stats.dropped)}; ` +
          `closed by code ${closed.length === 0 ? "none" : closed.join(" ")}`,
      ),
    );
  }
}

export class JsonServeLog implements ServeLog {
  constructor(private readonly write: Write) {}

  private emit(record: Record<string, unknown>): void {
    this.write(JSON.stringify(record));
  }

  listening(urls: string[], modes: string[]): void {
    this.emit({ event: "listening", urls, modes });
  }

  connection(who: ConnectionLabel, path: string, protocol: string | null, extensions: string): void {
    this.emit({ event: "connection", id: who.id, peer: who.peer, path, protocol, extensions });
  }

  message(who: ConnectionLabel, message: Message): void {
    this.emit(
      message.type === "text"
        ? { event: "message", id: who.id, type: "text", size: message.bytes.length, data: message.text }
        : { event: "message", id: who.id, type: "binary", size: message.bytes.length, encoding: "hex", data: Buffer.from(message.bytes).toString("hex") },
    );
  }

  close(who: ConnectionLabel, info: CloseInfo): void {
    this.emit({
      event: "close",
      id: who.id,
      peer: who.peer,
      code: info.code,
      reason: info.reason,
      wasClean: info.wasClean,
      ...(info.error === undefined ? {} : { error: info.error.message }),
    });
  }

  rejected(peer: string, status: number, code: string, message: string): void {
    this.emit({ event: "rejected", peer, status, code, message });
  }

  http(peer: string, method: string, path: string, status: number): void {
    this.emit({ event: "http", peer, method, path, status });
  }

  stats(stats: ServerStats): void {
    this.emit({ event: "stats", ...stats });
  }
}
