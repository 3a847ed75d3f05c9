/**
 * Seed 001 (embedded-websocket, a no_std Rust codec): the sans-IO core driven
 * byte by byte over raw `node:net` sockets, using only `wsx/core`.
 *
 * Client: build the opening handshake bytes, write them, complete the
 * handshake from the response, write a Text frame "hello", read the echo,
 * start the close handshake and check the Close reply.
 * Server: read the HTTP header (repeating until it is complete), answer it,
 * read a Text frame and echo it, read the Close frame and reply.
 *
 * Both sides read through 7-byte buffers and write in 7-byte pieces, like
 * the seed's "arbitrarily small buffers": the core reassembles headers and
 * payloads across reads whatever the frame size. A last, offline part shows
 * the frame parser streaming a 70,000-byte frame in 7-byte pieces.
 *
 * Run (after `npx tsc -p tsconfig.json`):
 *   node dist/examples/seeds/embedded-websocket.js            # local core server on 127.0.0.1, port 0
 *   node dist/examples/seeds/embedded-websocket.js ws://127.0.0.1:8080/chat   # client only, against an echo server
 *   WSX_URL=ws://... node dist/examples/seeds/embedded-websocket.js
 * Exits 0 on success, 1 on failure.
 */
import { createServer, connect as netConnect, type Socket } from "node:net";
import {
  CloseCode,
  FrameParser,
  HttpHeadParser,
  Message,
  Opcode,
  Protocol,
  buildAcceptResponse,
  buildClientRequest,
  buildRejectResponse,
  parseUpgradeRequest,
  verifyServerResponse,
  writeFrameHeader,
  HandshakeError,
  type HttpHead,
  type ProtocolEvent,
} from "../../src/core/index.js";

const DEADLINE_MS = 15_000;
setTimeout(() => {
  console.error(`FAILED: still running after ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS).unref();

/** The size of every read and write buffer in this example. */
const BUFFER_SIZE = 7;

/**
 * Blocking-style reads into buffers of at most BUFFER_SIZE bytes, like the
 * seed's "read some received_size data from a TCP stream into buffer1".
 */
class SmallReader {
  reads = 0;
  private chunks: Buffer[] = [];
  private ended = false;
  private wake: (() => void) | null = null;

  constructor(socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk);
      this.wake?.();
    });
    const end = (): void => {
      this.ended = true;
      this.wake?.();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  /** The next at most BUFFER_SIZE bytes, or null at the end of the stream. */
  async read(): Promise<Uint8Array | null> {
    while (this.chunks.length === 0) {
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = null;
    }
    const first = this.chunks[0]!;
    const size = Math.min(BUFFER_SIZE, first.length);
    // A fresh buffer per read: the core keeps what it is given (payloads are unmasked in place).
    const buffer = new Uint8Array(size);
    buffer.set(first.subarray(0, size));
    if (size === first.length) this.chunks.shift();
    else this.chunks[0] = first.subarray(size);
    this.reads++;
    return buffer;
  }
}

/** Write `bytes` in pieces of at most BUFFER_SIZE bytes. */
function writeSmall(socket: Socket, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; at += BUFFER_SIZE) socket.write(bytes.slice(at, at + BUFFER_SIZE));
}

/** Read until the HTTP head is complete ("repeat until HttpHeaderIncomplete is no longer returned"). */
async function readHttpHead(reader: SmallReader, kind: "request" | "response"): Promise<{ head: HttpHead; rest: Uint8Array; reads: number }> {
  const parser = new HttpHeadParser(kind);
  const before = reader.reads;
  for (;;) {
    const buffer = await reader.read();
    if (buffer === null) throw new Error("connection ended inside the HTTP head");
    const result = parser.push(buffer);
    if (result !== null) return { ...result, reads: reader.reads - before };
  }
}

/** A core Protocol plus the socket it talks over. */
class CoreEndpoint {
  private pending: ProtocolEvent[] = [];

  constructor(
    readonly protocol: Protocol,
    private readonly reader: SmallReader,
    private readonly socket: Socket,
  ) {}

  /** Write whatever the protocol has queued (frames, automatic replies). */
  flush(): number {
    let written = 0;
    for (const chunk of this.protocol.output()) {
      writeSmall(this.socket, chunk);
      written += chunk.length;
    }
    return written;
  }

  /** Feed small reads to the protocol until it produces the next event. */
  async next(): Promise<{ event: ProtocolEvent; reads: number }> {
    const before = this.reader.reads;
    while (this.pending.length === 0) {
      const buffer = await this.reader.read();
      if (buffer === null) {
        this.protocol.transportClosed();
      } else {
        this.protocol.receive(buffer);
      }
      this.pending.push(...this.protocol.events());
      this.flush();
      if (buffer === null && this.pending.length === 0) throw new Error("connection ended");
    }
    return { event: this.pending.shift()!, reads: this.reader.reads - before };
  }

  /** Close TCP once the protocol says so and wait for the socket to go. */
  async finish(): Promise<void> {
    if (!this.protocol.shouldCloseTransport) throw new Error(`protocol is ${this.protocol.state}, not closed`);
    const closed = new Promise<void>((resolve) => this.socket.once("close", () => resolve()));
    this.socket.end();
    await closed;
  }
}

function describe(event: ProtocolEvent): string {
  if (event instanceof Message) return `${event.type} message of ${event.bytes.length} bytes`;
  if (event.type === "close") return `close ${event.code}${event.reason ? ` "${event.reason}"` : ""}`;
  if (event.type === "error") return `error ${event.error.code}`;
  return event.type;
}

// ------------------------------------------------------------------ server

/** The seed's server: header, handshake response, echo Text, reply to Close. */
async function serveConnection(socket: Socket): Promise<void> {
  const reader = new SmallReader(socket);
  const { head, rest, reads } = await readHttpHead(reader, "request");
  console.log(`server: HTTP header complete after ${reads} reads of <= ${BUFFER_SIZE} bytes`);
  let key: string;
  try {
    const request = parseUpgradeRequest(head);
    key = request.key;
    console.log(`server: websocket upgrade for ${request.path} (Sec-WebSocket-Key ${request.key})`);
  } catch (error) {
    // Not a websocket request: answer with the status the core chose and hang up.
    const refusal = error as HandshakeError;
    socket.end(buildRejectResponse(refusal.status, { headers: refusal.headers }));
    return;
  }
  const response = buildAcceptResponse({ key });
  writeSmall(socket, response);
  console.log(`server: handshake response written (${response.length} bytes)`);

  // autoClose off so the Close reply is written by hand, as in the seed.
  const server = new CoreEndpoint(new Protocol({ role: "server", autoClose: false }), reader, socket);
  if (rest.length > 0) server.protocol.receive(rest);
  for (;;) {
    const { event, reads: frameReads } = await server.next();
    if (event instanceof Message) {
      const shown = event.type === "text" ? ` "${event.text}"` : "";
      console.log(`server: read ${event.type} frame${shown} (${event.bytes.length} bytes, ${frameReads} reads), echoing it`);
      server.protocol.sendFrame(event.type === "text" ? Opcode.TEXT : Opcode.BINARY, event.bytes, true);
      server.flush();
    } else if (event.type === "close") {
      console.log(`server: read Close ${event.code} (must reply), writing the Close reply`);
      server.protocol.close(event.code === CloseCode.NO_STATUS ? undefined : event.code);
      server.flush();
      break;
    } else if (event.type === "error") {
      throw event.error;
    }
  }
  await server.finish();
  console.log("server: TCP closed");
}

// ------------------------------------------------------------------ client

async function client(host: string, port: number, path: string): Promise<void> {
  const socket = netConnect({ host, port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const reader = new SmallReader(socket);

  const { request, key } = buildClientRequest({ host, port, path });
  writeSmall(socket, request);
  console.log(`client: opening handshake written (${request.length} bytes in ${BUFFER_SIZE}-byte pieces)`);
  const { head, rest, reads } = await readHttpHead(reader, "response");
  verifyServerResponse(head, key, {});
  console.log(`client: handshake complete after ${reads} reads (Sec-WebSocket-Accept verified)`);

  const ws = new CoreEndpoint(new Protocol({ role: "client" }), reader, socket);
  if (rest.length > 0) ws.protocol.receive(rest);

  ws.protocol.sendText("hello");
  console.log(`client: wrote Text "hello" (${ws.flush()} bytes on the wire)`);
  const hello = await ws.next();
  if (!(hello.event instanceof Message) || hello.event.type !== "text") throw new Error(`expected a Text message, got ${describe(hello.event)}`);
  console.log(`client: read Text "${hello.event.text}" (${hello.reads} reads)`);
  if (hello.event.text !== "hello") throw new Error("echo does not match");

  // Larger than one read and than the 7-bit length: a 16-bit length header, payload over many reads.
  const blob = new Uint8Array(300).map((_, i) => (i * 7) & 0xff);
  ws.protocol.sendBinary(blob);
  ws.flush();
  const echo = await ws.next();
  if (!(echo.event instanceof Message) || echo.event.type !== "binary") throw new Error(`expected a Binary message, got ${describe(echo.event)}`);
  if (!echo.event.bytes.every((byte, i) => byte === blob[i]) || echo.event.bytes.length !== blob.length) throw new Error("binary echo differs");
  console.log(`client: read Binary echo of ${echo.event.bytes.length} bytes (${echo.reads} reads of <= ${BUFFER_SIZE} bytes)`);

  ws.protocol.close(CloseCode.NORMAL);
  ws.flush();
  console.log(`client: initiated close handshake (${CloseCode.NORMAL})`);
  const reply = await ws.next();
  if (reply.event instanceof Message || reply.event.type !== "close") throw new Error(`expected Close, got ${describe(reply.event)}`);
  console.log(`client: read Close reply ${reply.event.code}; close handshake complete (state ${ws.protocol.state})`);
  await ws.finish();
  console.log("client: TCP closed");
}

// ------------------------------------------------------------------ offline

/** The frame parser alone: a 70,000-byte frame streamed through 7-byte buffers. */
function streamLargeFrame(): void {
  const size = 70_000;
  const frame = new Uint8Array(10 + size);
  const headerLength = writeFrameHeader(frame, 0, true, 0, Opcode.BINARY, size);
  for (let i = 0; i < size; i++) frame[headerLength + i] = i & 0xff;
  let pieces = 0;
  let largest = 0;
  let received = 0;
  let intact = true;
  let done = false;
  const parser = new FrameParser(
    { role: "client", maxFrameSize: 1 << 20 },
    {
      onFrameHeader: (fin, _rsv, opcode, length) => console.log(`offline: header read: fin=${fin} opcode=${opcode} length=${length}`),
      onFramePayload: (piece) => {
        for (let i = 0; i < piece.length; i++) if (piece[i] !== ((received + i) & 0xff)) intact = false;
        received += piece.length;
        largest = Math.max(largest, piece.length);
        pieces++;
      },
      onFrameEnd: () => (done = true),
      onFrameError: (error) => {
        throw error;
      },
    },
  );
  for (let at = 0; at < frame.length; at += BUFFER_SIZE) parser.push(frame.slice(at, at + BUFFER_SIZE));
  if (!done || !intact || received !== size) throw new Error("streamed frame is incomplete or corrupt");
  console.log(`offline: ${size}-byte frame streamed in ${pieces} payload pieces of <= ${largest} bytes, no larger buffer needed`);
}

// ------------------------------------------------------------------ main

try {
  const target = process.argv[2] ?? process.env["WSX_URL"];
  if (target) {
    const url = new URL(target);
    if (url.protocol !== "ws:") throw new Error("this example speaks raw TCP: give a ws:// URL");
    await client(url.hostname.replace(/^\[|\]$/g, ""), Number(url.port || 80), `${url.pathname}${url.search}`);
  } else {
    const served: Array<Promise<void>> = [];
    const listener = createServer((socket) => {
      served.push(
        serveConnection(socket).catch((error: unknown) => {
          console.error("FAILED (server):", error);
          process.exit(1);
        }),
      );
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const { port } = listener.address() as { port: number };
    console.log(`server: listening on 127.0.0.1:${port}`);
    try {
      await client("127.0.0.1", port, "/chat");
      await Promise.all(served);
    } finally {
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    }
  }
  streamLargeFrame();
  console.log("embedded-websocket: OK");
} catch (error) {
  console.error("FAILED:", error);
  process.exit(1);
}
