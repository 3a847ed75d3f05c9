/**
 * The load generator: plain node:net, no WebSocket library, built to cost
 * far less per message than any server it drives.
 *
 * - Raw handshakes (a constant key: servers do not care).
 * - Client frames are built and masked once (constant mask); a batch of
 *   `window` frames sits in one buffer, and refilling k messages is one
 *   `socket.write` of the first k frames of that batch. A connection is
 *   refilled once half its window has been echoed, so between window/2 and
 *   window messages are in flight.
 * - Every socket reads into one shared buffer (`onread`), and echoes are
 *   counted from frame headers only: payload bytes are skipped without
 *   being copied or looked at. A header split across two reads is the only
 *   case that copies (a few bytes).
 *
 * - With `deflate`, the handshake offers permessage-deflate with
 *   `client_no_context_takeover`, so every message is compressed on its own
 *   and can be built once (node:zlib, RSV1 set, masked) like any other frame;
 *   the server keeps whatever context it likes for its own direction. Its
 *   echoes, compressed or not, are counted from headers just the same.
 *
 * Commands (see lib/control.ts): `echo` starts pipelined echo traffic,
 * `broadcast` opens subscribers and a publisher (see startBroadcast),
 * `open` opens idle connections at a bounded concurrency (with `pause`,
 * connections that never read), `echo-once` sends one message on each idle
 * connection and waits for every echo, `mark` reports the counters and this
 * process's CPU time, `close` drops every connection.
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { serveCommands, type Command } from "./lib/control.js";
import { deflateMessage, inflateMessage, jsonText } from "./lib/payloads.js";

const HOST = "127.0.0.1";
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const HANDSHAKE_TIMEOUT = 15_000;
/** The permessage-deflate offer: every client message compressed on its own. */
const DEFLATE_OFFER = "permessage-deflate; client_no_context_takeover";
const RSV1 = 0x40;

let messages = 0;
let failures = 0;
/** First echoes (one per connection) whose type, length or bytes differ from what was sent. */
let mismatches = 0;
const sockets = new Set<Socket>();

/** One masked client frame (FIN set) carrying `payload`; `rsv1` marks it compressed. */
export function buildFrame(opcode: number, payload: Uint8Array, rsv1 = false): Buffer {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | (rsv1 ? RSV1 : 0) | opcode;
  if (length < 126) {
    frame[1] = 0x80 | length;
  } else if (length < 65536) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  MASK.copy(frame, header);
  const start = header + 4;
  for (let i = 0; i < length; i++) frame[start + i] = payload[i]! ^ MASK[i & 3]!;
  return frame;
}

/**
 * Every socket reads into this one buffer (net's `onread`): no allocation and
 * no 'data' event per read. Reads are handled synchronously, each before
 * the next one, so sharing it is safe; whatever must outlive a read is copied.
 */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

type Reader = (data: Buffer) => void;

interface Opened {
  socket: Socket;
  /** Bytes that came after the 101 response head (copied). */
  rest: Buffer;
  /** The server accepted permessage-deflate. */
  deflate: boolean;
  /** Where the socket's later reads go (views of READ_BUFFER, valid during the call only). */
  setReader(reader: Reader): void;
}

/** Whether a response head accepts permessage-deflate (the only extension ever offered here). */
function acceptsDeflate(head: string): boolean {
  return /^sec-websocket-extensions:[ \t]*permessage-deflate/im.test(head);
}

/**
 * Connect (TCP to 127.0.0.1:`endpoint`, or the Unix socket at `endpoint`
 * when it is a path), send the upgrade request (offering
 * permessage-deflate when `deflate`), resolve once the 101 response head
 * has arrived.
 */
function handshake(endpoint: number | string, path: string, deflate = false): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let reader: Reader = () => undefined;
    const where = typeof endpoint === "string" ? { path: endpoint } : { port: endpoint, host: HOST };
    const host = typeof endpoint === "string" ? "localhost" : `${HOST}:${endpoint}`;
    const socket = connect({
      ...where,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          reader((buffer as Buffer).subarray(0, length));
          return true;
        },
      },
    });
    if (typeof endpoint === "number") socket.setNoDelay(true);
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => fail(new Error("handshake timeout")), HANDSHAKE_TIMEOUT);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      reader = () => undefined;
      socket.destroy();
      reject(error);
    };
    const onClose = (): void => fail(new Error("closed during the handshake"));
    reader = (data) => {
      head = Buffer.concat([head, data]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > 16384) fail(new Error("response head too long"));
        return;
      }
      clearTimeout(timer);
      reader = () => undefined;
      socket.removeListener("error", fail);
      socket.removeListener("close", onClose);
      socket.on("error", () => undefined);
      if (!head.subarray(0, 13).toString("latin1").startsWith("HTTP/1.1 101")) {
        socket.destroy();
        reject(new Error(`handshake refused: ${head.subarray(0, head.indexOf("\r\n")).toString("latin1")}`));
        return;
      }
      const accepted = deflate && acceptsDeflate(head.subarray(0, end).toString("latin1"));
      resolve({ socket, rest: head.subarray(end + 4), deflate: accepted, setReader: (next) => (reader = next) });
    };
    socket.once("connect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
          (deflate ? `Sec-WebSocket-Extensions: ${DEFLATE_OFFER}\r\n` : "") +
          "\r\n",
      );
    });
    socket.on("error", fail);
    socket.on("close", onClose);
  });
}

/** What a connection sends: a batch of frames built once, and what to expect back. */
interface Traffic {
  /** `window` frames back to back; sending k messages writes bytes [0, ends[k - 1]). */
  batch: Buffer;
  ends: number[];
  window: number;
  expectedOpcode: number;
  /** The (uncompressed) message of the batch's first frame, which the first echo must equal. */
  expected: Buffer;
  /** Keep between window/2 and window messages in flight (false: send the batch once). */
  refill: boolean;
}

/** The first echo of a connection, collected (copied, once per connection) to be checked. */
interface FirstEcho {
  opcode: number;
  fin: boolean;
  rsv1: boolean;
  length: number;
  parts: Buffer[];
  have: number;
}

/**
 * One echo connection: keeps `window` messages in flight and counts the
 * echoes by parsing server frame headers (servers do not mask). Compressed
 * echoes (RSV1) are counted the same way; only the first echo is
 * decompressed, to check it.
 */
class EchoConnection {
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  /** Whether the frame being skipped ends a data message. */
  private endsMessage = false;
  /** Bytes of a header that was split across reads. */
  private partial: Buffer | null = null;
  /** Whether the first echo was seen (it is checked once complete). */
  private checked = false;
  private first: FirstEcho | null = null;
  /** Echoes received and not yet replaced by new messages. */
  private owed = 0;
  /** Refill when this many are owed: in flight stays between window/2 and window. */
  private readonly threshold: number;

  constructor(
    private readonly socket: Socket,
    setReader: (reader: Reader) => void,
    private readonly traffic: Traffic,
    private readonly onEcho?: (count: number) => void,
  ) {
    this.threshold = Math.max(1, traffic.window >> 1);
    setReader((data) => this.onData(data));
  }

  start(rest: Buffer): void {
    this.socket.write(this.traffic.batch);
    this.listen(rest);
  }

  /** Only count what arrives (a subscriber): nothing is sent. */
  listen(rest: Buffer): void {
    if (rest.length > 0) this.onData(rest);
  }

  private collect(chunk: Buffer, at: number, length: number): void {
    const first = this.first!;
    first.parts.push(Buffer.from(chunk.subarray(at, at + length)));
    first.have += length;
    if (first.have >= first.length) this.finishCheck();
  }

  /** Compare the first echo with the message sent (decompressed first when RSV1 is set). */
  private finishCheck(): void {
    const first = this.first!;
    this.first = null;
    if (!first.fin) return; // a fragmented echo: not compared
    let message: Buffer = Buffer.concat(first.parts);
    if (first.rsv1) {
      try {
        message = inflateMessage(message);
      } catch {
        mismatches++;
        return;
      }
    }
    if (first.opcode !== this.traffic.expectedOpcode || !message.equals(this.traffic.expected)) mismatches++;
  }

  private onData(input: Buffer): void {
    let chunk = input;
    if (this.partial !== null) {
      chunk = Buffer.concat([this.partial, input]);
      this.partial = null;
    }
    const n = chunk.length;
    let i = 0;
    let done = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = n - i < this.skip ? n - i : this.skip;
        if (this.first !== null) this.collect(chunk, i, take);
        i += take;
        this.skip -= take;
        if (this.skip > 0) break;
        if (this.endsMessage) done++;
        continue;
      }
      if (n - i < 2) {
        this.partial = Buffer.from(chunk.subarray(i));
        break;
      }
      const b0 = chunk[i]!;
      const b1 = chunk[i + 1]!;
      let length = b1 & 0x7f;
      let header = length === 126 ? 4 : length === 127 ? 10 : 2;
      if ((b1 & 0x80) !== 0) header += 4;
      if (n - i < header) {
        this.partial = Buffer.from(chunk.subarray(i));
        break;
      }
      if (length === 126) length = chunk.readUInt16BE(i + 2);
      else if (length === 127) length = chunk.readUInt32BE(i + 2) * 2 ** 32 + chunk.readUInt32BE(i + 6);
      i += header;
      const opcode = b0 & 0x0f;
      if (opcode >= 8) {
        // Control frame: a close means the server gave up on us; pings are not expected.
        if (opcode === 8) failures++;
        this.endsMessage = false;
      } else {
        this.endsMessage = (b0 & 0x80) !== 0;
        if (!this.checked) {
          this.checked = true;
          this.first = { opcode, fin: this.endsMessage, rsv1: (b0 & RSV1) !== 0, length, parts: [], have: 0 };
          if (length === 0) this.finishCheck();
        }
      }
      if (length === 0) {
        if (this.endsMessage) done++;
      } else {
        this.skip = length;
      }
    }
    if (done > 0) {
      messages += done;
      this.onEcho?.(done);
      if (!this.traffic.refill) return;
      // Refill once half the window has come back: fewer, larger writes (cheaper here, and
      // the server reads bursts of messages, as a pipelining client makes it do).
      this.owed += done;
      if (this.owed >= this.threshold) {
        const { window, batch, ends } = this.traffic;
        const refill = this.owed < window ? this.owed : window;
        this.owed = 0;
        this.socket.write(refill === window ? batch : batch.subarray(0, ends[refill - 1]));
      }
    }
  }
}

/** Run `task(i)` for i in [0, count) with at most `concurrency` running at once. */
async function pool(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      await task(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

interface EchoCommand extends Command {
  port: number;
  path: string;
  connections: number;
  size: number;
  window: number;
  text: boolean;
  /** Offer permessage-deflate and send every message compressed (RSV1); a connection the server does not give it fails. */
  deflate?: boolean;
  /** JSON-like text (a different message in each slot of the window) instead of a repeated a..z pattern. */
  json?: boolean;
}

/** The message in slot `k` of a window. */
function messagePayload(size: number, json: boolean, k: number): Buffer {
  if (json) return Buffer.from(jsonText(size, k), "latin1");
  const payload = Buffer.alloc(size);
  // Printable ASCII, valid UTF-8 for text messages.
  for (let i = 0; i < payload.length; i++) payload[i] = 0x61 + (i % 26);
  return payload;
}

/** `window` frames back to back (each slot's message, compressed on its own with `deflate`). */
function buildTraffic(opcode: number, size: number, window: number, json: boolean, deflate: boolean, refill: boolean): Traffic {
  const frames: Buffer[] = [];
  const ends: number[] = [];
  let expected: Buffer | null = null;
  let plain: Buffer | null = null;
  let end = 0;
  for (let k = 0; k < window; k++) {
    let frame: Buffer;
    if (json || k === 0) {
      const payload = messagePayload(size, json, k);
      expected ??= payload;
      frame = deflate ? buildFrame(opcode, deflateMessage(payload), true) : buildFrame(opcode, payload);
      plain = frame;
    } else {
      frame = plain!; // the same message in every slot
    }
    frames.push(frame);
    end += frame.length;
    ends.push(end);
  }
  return { batch: Buffer.concat(frames), ends, window, expectedOpcode: opcode, expected: expected!, refill };
}

async function startEcho(command: EchoCommand): Promise<{ connected: number; failed: number; error?: string; wireBytes: number }> {
  const opcode = command.text ? 1 : 2;
  const deflate = command.deflate === true;
  const traffic = buildTraffic(opcode, command.size, command.window, command.json === true, deflate, true);
  const ready: Array<{ connection: EchoConnection; rest: Buffer }> = [];
  let failed = 0;
  let error: string | undefined;
  await pool(command.connections, 100, async () => {
    try {
      const opened = await handshake(command.port, command.path, deflate);
      const { socket, rest, setReader } = opened;
      if (deflate && !opened.deflate) {
        socket.destroy();
        throw new Error("the server did not accept permessage-deflate");
      }
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      ready.push({ connection: new EchoConnection(socket, setReader, traffic), rest });
    } catch (problem) {
      failed++;
      error ??= (problem as Error).message;
    }
  });
  // Start every connection together, once all are open.
  for (const { connection, rest } of ready) connection.start(rest);
  // Bytes per message on the wire, client to server (frame headers included).
  const wireBytes = traffic.batch.length / command.window;
  return { connected: ready.length, failed, wireBytes, ...(error === undefined ? {} : { error }) };
}

interface BroadcastCommand extends Command {
  port: number;
  subscribers: number;
  size: number;
  window: number;
}

/** Messages the broadcast publisher has sent. */
let published = 0;

/**
 * `broadcast`: `subscribers` connections on /sub count what the server fans
 * out to them (frame headers only, each one's first message checked), then
 * one connection on /pub sends the binary messages the server publishes.
 * A message counts as delivered once `subscribers` deliveries have arrived
 * (over all subscribers: no per-message bookkeeping), and the publisher
 * keeps between window/2 and `window` messages in flight, refilling once
 * half have been delivered, as the echo connections do.
 */
async function startBroadcast(command: BroadcastCommand): Promise<{ subscribed: number; failed: number; error?: string }> {
  const traffic = buildTraffic(2, command.size, command.window, false, false, false);
  const { batch, ends, window } = traffic;
  const half = Math.max(1, window >> 1);
  const ready: Array<{ connection: EchoConnection; rest: Buffer }> = [];
  let failed = 0;
  let error: string | undefined;
  let delivered = 0;
  let subscribed = 0;
  let publisher: Socket | null = null;
  const onDelivery = (count: number): void => {
    delivered += count;
    if (publisher === null) return;
    const inFlight = published - Math.floor(delivered / subscribed);
    if (inFlight > half) return;
    const refill = window - inFlight;
    published += refill;
    publisher.write(refill === window ? batch : batch.subarray(0, ends[refill - 1]));
  };
  await pool(command.subscribers, 100, async () => {
    try {
      const { socket, rest, setReader } = await handshake(command.port, "/sub");
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      ready.push({ connection: new EchoConnection(socket, setReader, traffic, onDelivery), rest });
    } catch (problem) {
      failed++;
      error ??= (problem as Error).message;
    }
  });
  subscribed = ready.length;
  if (subscribed === 0) return { subscribed, failed, ...(error === undefined ? {} : { error }) };
  for (const { connection, rest } of ready) connection.listen(rest);
  // Opened after every subscriber: the server has handled their subscriptions by the time it
  // reads the first message.
  const opened = await handshake(command.port, "/pub");
  sockets.add(opened.socket);
  opened.socket.once("close", () => sockets.delete(opened.socket));
  publisher = opened.socket;
  published += window;
  publisher.write(batch);
  return { subscribed, failed, ...(error === undefined ? {} : { error }) };
}

interface OpenCommand extends Command {
  port: number;
  path: string;
  count: number;
  concurrency: number;
  /** Offer permessage-deflate. */
  deflate?: boolean;
  /** Stop reading once open (a slow consumer): the server's writes back up. */
  pause?: boolean;
  /** Connect to this Unix socket instead of TCP `port`. */
  socketPath?: string;
}

/** Idle connections opened by `open`, for `echo-once`. */
let idle: Opened[] = [];

async function openIdle(command: OpenCommand): Promise<{ opened: number; failed: number; compressed: number; ms: number; error?: string }> {
  const started = performance.now();
  let opened = 0;
  let failed = 0;
  let compressed = 0;
  let error: string | undefined;
  await pool(command.count, command.concurrency, async () => {
    try {
      const connection = await handshake(command.socketPath ?? command.port, command.path, command.deflate === true);
      const { socket } = connection;
      if (command.pause === true) socket.pause();
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      idle.push(connection);
      opened++;
      if (connection.deflate) compressed++;
    } catch (problem) {
      failed++;
      error ??= (problem as Error).message;
    }
  });
  return { opened, failed, compressed, ms: performance.now() - started, ...(error === undefined ? {} : { error }) };
}

interface EchoOnceCommand extends Command {
  size: number;
  timeoutMs: number;
}

/**
 * Send one JSON-like text message of `size` bytes on every idle connection
 * (compressed where permessage-deflate was agreed) and wait for every echo.
 */
function echoOnce(command: EchoOnceCommand): Promise<{ sent: number; echoed: number; mismatches: number; ms: number }> {
  const started = performance.now();
  const before = mismatches;
  const open = idle.filter((c) => !c.socket.destroyed);
  idle = [];
  const deflated = buildTraffic(1, command.size, 1, true, true, false);
  const plain = buildTraffic(1, command.size, 1, true, false, false);
  return new Promise((resolve) => {
    let echoed = 0;
    let settled = false;
    const finish = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ sent: open.length, echoed, mismatches: mismatches - before, ms: performance.now() - started });
    };
    const timer = setTimeout(finish, Math.min(command.timeoutMs, 120_000));
    for (const c of open) {
      const connection = new EchoConnection(c.socket, c.setReader, c.deflate ? deflated : plain, (n) => {
        echoed += n;
        if (echoed >= open.length) finish();
      });
      connection.start(c.rest);
    }
    if (open.length === 0) finish();
  });
}

serveCommands((command) => {
  switch (command.cmd) {
    case "echo":
      return startEcho(command as EchoCommand);
    case "open":
      return openIdle(command as OpenCommand);
    case "echo-once":
      return echoOnce(command as EchoOnceCommand);
    case "broadcast":
      return startBroadcast(command as BroadcastCommand);
    case "mark": {
      const cpu = process.cpuUsage();
      return { messages, published, failures, mismatches, open: sockets.size, cpuMicros: cpu.user + cpu.system, time: performance.now() };
    }
    case "close": {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      idle = [];
      return null;
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
