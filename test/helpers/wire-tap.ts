/**
 * A TCP proxy on 127.0.0.1 that forwards a WebSocket connection untouched and
 * records the header of every frame in each direction (FIN, RSV bits, opcode,
 * payload length), so tests can see what travelled compressed (RSV1) without
 * asking either endpoint. Used by the browser test and the permessage-deflate
 * interop tests; only frame headers are kept, payloads stream through.
 */
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from "node:net";

/** One frame as seen on the wire. */
export interface WireFrame {
  fin: boolean;
  /** RSV bits as a 3-bit number: RSV1 (permessage-deflate) is 4. */
  rsv: number;
  opcode: number;
  masked: boolean;
  /** Payload length as announced in the header. */
  length: number;
}

export const RSV1 = 4;

const HEAD_END = Buffer.from("\r\n\r\n");

/** Follows one direction of a connection: skips the HTTP head, then reads frame headers and skips payloads. */
export class FrameTap {
  /** Every frame header seen so far, in order. */
  readonly frames: WireFrame[] = [];
  private inHead = true;
  /** Bytes of the HTTP head or of a frame header not complete yet. */
  private pending: Buffer = Buffer.alloc(0);
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private taken = 0;

  push(chunk: Buffer): void {
    let data = chunk;
    if (this.inHead) {
      this.pending = Buffer.concat([this.pending, data]);
      const end = this.pending.indexOf(HEAD_END);
      if (end < 0) return;
      this.inHead = false;
      data = this.pending.subarray(end + HEAD_END.length);
      this.pending = Buffer.alloc(0);
    }
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      // A frame header is at most 14 bytes: collect it whole before parsing.
      const wanted = Math.min(14, this.pending.length + data.length);
      const take = Math.min(data.length, wanted - this.pending.length);
      const header = Buffer.concat([this.pending, data.subarray(0, take)]);
      const parsed = parseHeader(header);
      if (parsed === undefined) {
        this.pending = header;
        data = data.subarray(take);
        continue;
      }
      // Hand back what the header did not use.
      const used = parsed.size - this.pending.length;
      this.pending = Buffer.alloc(0);
      data = data.subarray(used);
      this.frames.push(parsed.frame);
      this.skip = parsed.frame.length;
    }
  }

  /** Data frames (text, binary, continuation) seen since the last call. */
  takeData(): WireFrame[] {
    const fresh = this.frames.slice(this.taken);
    this.taken = this.frames.length;
    return fresh.filter((frame) => frame.opcode <= 2);
  }
}

function parseHeader(buffer: Buffer): { frame: WireFrame; size: number } | undefined {
  if (buffer.length < 2) return undefined;
  const b0 = buffer[0]!;
  const b1 = buffer[1]!;
  const masked = (b1 & 0x80) !== 0;
  let length = b1 & 0x7f;
  let size = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    size = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    size = 10;
  }
  if (masked) size += 4;
  if (buffer.length < size) return undefined;
  return { frame: { fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, length }, size };
}

/** One proxied connection: `up` is what the client sent, `down` what the server sent. */
export interface TappedConnection {
  up: FrameTap;
  down: FrameTap;
}

export interface TapProxy {
  port: number;
  /** Connections in the order they were accepted. */
  connections: TappedConnection[];
  /** The next connection (waits a bounded time for it). */
  next(ms?: number): Promise<TappedConnection>;
  close(): Promise<void>;
}

/** A proxy on 127.0.0.1 (free port) that forwards every connection to 127.0.0.1:`target`. */
export function tapProxy(target: number): Promise<TapProxy> {
  const connections: TappedConnection[] = [];
  const sockets = new Set<Socket>();
  let handedOut = 0;
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  };
  const server: Server = createServer((client) => {
    const upstream = netConnect({ host: "127.0.0.1", port: target });
    track(client);
    track(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const connection: TappedConnection = { up: new FrameTap(), down: new FrameTap() };
    connections.push(connection);
    // The taps see each chunk before it is forwarded, so a frame is recorded before the far end can receive it.
    client.on("data", (chunk: Buffer) => connection.up.push(chunk));
    upstream.on("data", (chunk: Buffer) => connection.down.push(chunk));
    client.pipe(upstream);
    upstream.pipe(client);
    // A reset on one side ends the other; a clean FIN travels through pipe().
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.end());
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.removeListener("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        connections,
        async next(ms = 3000) {
          for (let waited = 0; connections.length <= handedOut; waited += 10) {
            if (waited >= ms) throw new Error(`no proxied connection within ${ms} ms`);
            await new Promise((done) => setTimeout(done, 10));
          }
          return connections[handedOut++]!;
        },
        close: () =>
          new Promise<void>((done) => {
            for (const socket of sockets) socket.destroy();
            server.close(() => done());
          }),
      });
    });
  });
}
