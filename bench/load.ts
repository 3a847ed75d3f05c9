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
 * Commands (see lib/control.ts): `echo` starts pipelined echo traffic,
 * `open` opens idle connections at a bounded concurrency, `mark` reports
 * the counters and this process's CPU time, `close` drops every connection.
 */
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { serveCommands, type Command } from "./lib/control.js";

const HOST = "127.0.0.1";
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
const HANDSHAKE_TIMEOUT = 15_000;

let messages = 0;
let failures = 0;
/** First echoes (one per connection) whose type, length or bytes differ from what was sent. */
let mismatches = 0;
const sockets = new Set<Socket>();

/** One masked client frame (FIN set) carrying `payload`. */
export function buildFrame(opcode: number, payload: Uint8Array): Buffer {
  const length = payload.length;
  const header = length < 126 ? 2 : length < 65536 ? 4 : 10;
  const frame = Buffer.allocUnsafe(header + 4 + length);
  frame[0] = 0x80 | opcode;
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
  /** Where the socket's later reads go (views of READ_BUFFER, valid during the call only). */
  setReader(reader: Reader): void;
}

/** Open TCP, send the upgrade request, resolve once the 101 response head has arrived. */
function handshake(port: number, path: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    let reader: Reader = () => undefined;
    const socket = connect({
      port,
      host: HOST,
      onread: {
        buffer: READ_BUFFER,
        callback: (length: number, buffer: Uint8Array): boolean => {
          reader((buffer as Buffer).subarray(0, length));
          return true;
        },
      },
    });
    socket.setNoDelay(true);
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
      resolve({ socket, rest: head.subarray(end + 4), setReader: (next) => (reader = next) });
    };
    socket.once("connect", () => {
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
      );
    });
    socket.on("error", fail);
    socket.on("close", onClose);
  });
}

/**
 * One echo connection: keeps `window` messages in flight and counts the
 * echoes by parsing server frame headers (servers do not mask).
 */
class EchoConnection {
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  /** Whether the frame being skipped ends a data message. */
  private endsMessage = false;
  /** Bytes of a header that was split across reads. */
  private partial: Buffer | null = null;
  /** Whether the first echo was compared with what was sent. */
  private checked = false;
  /** Echoes received and not yet replaced by new messages. */
  private owed = 0;
  /** Refill when this many are owed: in flight stays between window/2 and window. */
  private readonly threshold: number;

  constructor(
    private readonly socket: Socket,
    setReader: (reader: Reader) => void,
    private readonly batch: Buffer,
    private readonly frameLength: number,
    private readonly window: number,
    private readonly expectedOpcode: number,
    private readonly expected: Buffer,
  ) {
    this.threshold = Math.max(1, window >> 1);
    setReader((data) => this.onData(data));
  }

  start(rest: Buffer): void {
    this.socket.write(this.batch);
    if (rest.length > 0) this.onData(rest);
  }

  /** Compare the first echo with the message sent (its bytes when they are all in this read). */
  private check(opcode: number, length: number, chunk: Buffer, at: number): void {
    this.checked = true;
    const expected = this.expected;
    const same =
      opcode === this.expectedOpcode &&
      length === expected.length &&
      (chunk.length - at < length || chunk.subarray(at, at + length).equals(expected));
    if (!same) mismatches++;
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
        const available = n - i;
        if (available < this.skip) {
          this.skip -= available;
          break;
        }
        i += this.skip;
        this.skip = 0;
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
        if (!this.checked) this.check(opcode, length, chunk, i);
      }
      if (length === 0) {
        if (this.endsMessage) done++;
      } else {
        this.skip = length;
      }
    }
    if (done > 0) {
      messages += done;
      // Refill once half the window has come back: fewer, larger writes (cheaper here, and
      // the server reads bursts of messages, as a pipelining client makes it do).
      this.owed += done;
      if (this.owed >= this.threshold) {
        const refill = this.owed < this.window ? this.owed : this.window;
        this.owed = 0;
        this.socket.write(refill === this.window ? this.batch : this.batch.subarray(0, refill * this.frameLength));
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
}

async function startEcho(command: EchoCommand): Promise<{ connected: number; failed: number }> {
  const payload = Buffer.alloc(command.size);
  // Printable ASCII, valid UTF-8 for text messages.
  for (let i = 0; i < payload.length; i++) payload[i] = 0x61 + (i % 26);
  const frame = buildFrame(command.text ? 1 : 2, payload);
  const batch = Buffer.allocUnsafe(frame.length * command.window);
  for (let k = 0; k < command.window; k++) frame.copy(batch, k * frame.length);
  const ready: Array<{ connection: EchoConnection; rest: Buffer }> = [];
  let failed = 0;
  await pool(command.connections, 100, async () => {
    try {
      const { socket, rest, setReader } = await handshake(command.port, command.path);
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      const connection = new EchoConnection(socket, setReader, batch, frame.length, command.window, command.text ? 1 : 2, payload);
      ready.push({ connection, rest });
    } catch {
      failed++;
    }
  });
  // Start every connection together, once all are open.
  for (const { connection, rest } of ready) connection.start(rest);
  return { connected: ready.length, failed };
}

interface OpenCommand extends Command {
  port: number;
  path: string;
  count: number;
  concurrency: number;
}

async function openIdle(command: OpenCommand): Promise<{ opened: number; failed: number; ms: number; error?: string }> {
  const started = performance.now();
  let opened = 0;
  let failed = 0;
  let error: string | undefined;
  await pool(command.count, command.concurrency, async () => {
    try {
      const { socket } = await handshake(command.port, command.path);
      sockets.add(socket);
      socket.once("close", () => sockets.delete(socket));
      opened++;
    } catch (problem) {
      failed++;
      error ??= (problem as Error).message;
    }
  });
  return { opened, failed, ms: performance.now() - started, ...(error === undefined ? {} : { error }) };
}

serveCommands((command) => {
  switch (command.cmd) {
    case "echo":
      return startEcho(command as EchoCommand);
    case "open":
      return openIdle(command as OpenCommand);
    case "mark": {
      const cpu = process.cpuUsage();
      return { messages, failures, mismatches, open: sockets.size, cpuMicros: cpu.user + cpu.system, time: performance.now() };
    }
    case "close": {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      return null;
    }
    default:
      throw new Error(`unknown command ${command.cmd}`);
  }
});
