/** The two halves {@link WebSocket.split} hands out: each exposes one direction of the connection. */
import type { Chunk, CloseFrame, Frame, Message } from "../core/index.js";
import type { CloseInfo, SendData, SendOptions, WebSocket } from "./connection.js";
import type { ReceiveChunkOptions, ReceiveOptions } from "./reading.js";

/** The reading half of a {@link WebSocket} (see {@link WebSocket.split}). */
export class WebSocketReader {
  constructor(private readonly ws: WebSocket) {}
  receive(options?: ReceiveOptions): Promise<Message> {
    return this.ws.receive(options);
  }
  receiveChunk(options?: ReceiveChunkOptions): Promise<Chunk> {
    return this.ws.receiveChunk(options);
  }
  chunks(): AsyncIterableIterator<Chunk> {
    return this.ws.chunks();
  }
  receiveFrame(options?: { timeout?: number }): Promise<Frame> {
    return this.ws.receiveFrame(options);
  }
  frames(): AsyncIterableIterator<Frame> {
    return this.ws.frames();
  }
  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return this.ws[Symbol.asyncIterator]();
  }
  get closed(): Promise<CloseInfo> {
    return this.ws.closed;
  }
}

/** The writing half of a {@link WebSocket} (see {@link WebSocket.split}). */
export class WebSocketWriter {
  constructor(private readonly ws: WebSocket) {}
  send(data: SendData | Blob | AsyncIterable<string | Uint8Array>, options?: SendOptions): Promise<void> {
    return this.ws.send(data, options);
  }
  sendFragmented(
    data: string | Uint8Array | ArrayBuffer | ArrayBufferView | Message,
    options: { fragmentSize: number; type?: "text" | "binary"; compress?: boolean },
  ): Promise<void> {
    return this.ws.sendFragmented(data, options);
  }
  sendFrame(opcode: number, payload: string | Uint8Array, fin?: boolean): Promise<void> {
    return this.ws.sendFrame(opcode, payload, fin);
  }
  ping(payload?: Uint8Array | string, options?: { timeout?: number }): Promise<number> {
    return this.ws.ping(payload, options);
  }
  pong(payload?: Uint8Array | string): Promise<void> {
    return this.ws.pong(payload);
  }
  close(code?: number | CloseFrame, reason?: string): Promise<CloseInfo> {
    return this.ws.close(code, reason);
  }
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }
}
