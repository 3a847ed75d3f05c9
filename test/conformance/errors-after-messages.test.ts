/**
 * RFC 6455 7.1.7 (Fail the WebSocket Connection) with data before the
 * violation: what arrived before the bad frame reaches the application, and
 * what the application sends back in that turn of the event loop goes out
 * before the close frame, in both roles, however the bytes are chunked.
 *
 * The inputs are the byte sequences of the fuzzing suite's (Autobahn) cases
 * 3.2-3.4, 4.1.3-4.1.5, 4.2.3-4.2.5 and 5.15 (its strict verdict: the echo,
 * then close 1002, and no pong for the ping after the bad frame), sent over
 * real sockets: from a raw TCP peer in one chunk, frame by frame and byte by
 * byte, and from the `ws` package.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import type { Socket } from "node:net";
import { after, describe, test } from "node:test";
import { WebSocketServer as WsServer, WebSocket as WsSocket } from "ws";
import { connect, serve, type CloseInfo, type WebSocket, type WebSocketError, type WebSocketServer } from "../../src/index.js";
import { watch } from "../helpers/interop.js";
import {
  LOOPBACK,
  OP,
  RawClient,
  deadline,
  delay,
  encodeFrame,
  listenHttpHead,
  parseClose,
  parseFrames,
  switchingResponse,
  type RawFrame,
  type RawServer,
} from "../helpers/net.js";

const HELLO = "Hello, world!";

interface FuzzFrame {
  opcode: number;
  payload?: string;
  fin?: boolean;
  rsv?: number;
}

interface FuzzCase {
  id: string;
  frames: FuzzFrame[];
  /** How the suite sends it (the other ways are tested too). */
  chops: Chop;
  /** Messages the application must get, and echo, before the close. */
  messages: string[];
  /** The violation's code. */
  code: string;
}

type Chop = "one chunk" | "frame by frame" | "byte by byte";
const CHOPS: Chop[] = ["one chunk", "frame by frame", "byte by byte"];

const hello: FuzzFrame = { opcode: OP.TEXT, payload: HELLO };
const ping: FuzzFrame = { opcode: OP.PING };

const CASES: FuzzCase[] = [
  { id: "3.2", frames: [hello, { ...hello, rsv: 2 }, ping], chops: "one chunk", messages: [HELLO], code: "RESERVED_BITS" },
  { id: "3.3", frames: [hello, { ...hello, rsv: 3 }, ping], chops: "frame by frame", messages: [HELLO], code: "RESERVED_BITS" },
  { id: "3.4", frames: [hello, { ...hello, rsv: 4 }, ping], chops: "byte by byte", messages: [HELLO], code: "RESERVED_BITS" },
  { id: "4.1.3", frames: [hello, { opcode: 5 }, ping], chops: "one chunk", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  { id: "4.1.4", frames: [hello, { opcode: 6, payload: HELLO }, ping], chops: "one chunk", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  { id: "4.1.5", frames: [hello, { opcode: 7, payload: HELLO }, ping], chops: "byte by byte", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  { id: "4.2.3", frames: [hello, { opcode: 13 }, ping], chops: "one chunk", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  { id: "4.2.4", frames: [hello, { opcode: 14, payload: HELLO }, ping], chops: "one chunk", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  { id: "4.2.5", frames: [hello, { opcode: 15, payload: HELLO }, ping], chops: "byte by byte", messages: [HELLO], code: "UNKNOWN_OPCODE" },
  {
    id: "5.15",
    frames: [
      { opcode: OP.TEXT, payload: "fragment1", fin: false },
      { opcode: OP.CONTINUATION, payload: "fragment2" },
      { opcode: OP.CONTINUATION, payload: "fragment3", fin: false },
      { opcode: OP.TEXT, payload: "fragment4" },
    ],
    chops: "one chunk",
    messages: ["fragment1fragment2"],
    code: "UNEXPECTED_CONTINUATION",
  },
];

/** A fixed masking key: the suite's are random, the frames are the same. */
const MASK_KEY = Uint8Array.of(0x1f, 0x2e, 0x3d, 0x4c);

/** The case's frames as a client (masked) or a server (unmasked) sends them, one buffer per frame. */
function caseFrames(c: FuzzCase, masked: boolean): Buffer[] {
  return c.frames.map((f) => encodeFrame(f.opcode, f.payload ?? "", { fin: f.fin ?? true, rsv: f.rsv ?? 0, mask: masked, maskKey: MASK_KEY }));
}

/**
 * Write the frames in the given chopping, each piece handed to the OS (and
 * a moment given to the reader) before the next. Stops once the peer has
 * closed: like the suite, it does not care whether the bytes after the bad
 * frame are read.
 */
async function writeChopped(socket: Socket, frames: Buffer[], chop: Chop): Promise<void> {
  const pieces =
    chop === "one chunk" ? [Buffer.concat(frames)] : chop === "frame by frame" ? frames : [...Buffer.concat(frames)].map((b) => Buffer.of(b));
  for (const piece of pieces) {
    if (!socket.writable) return;
    const written = await new Promise<boolean>((resolve) => socket.write(piece, (error) => resolve(!error)));
    if (!written) return;
    if (pieces.length > 1) await delay(1);
  }
}

/** Data messages (fragments joined) and control frames, in the order they came. */
function summarize(frames: RawFrame[]): string[] {
  const out: string[] = [];
  let text: Buffer[] | null = null;
  for (const frame of frames) {
    if (frame.opcode === OP.CLOSE) out.push(`close ${parseClose(frame.payload).code}`);
    else if (frame.opcode === OP.PING) out.push("ping");
    else if (frame.opcode === OP.PONG) out.push("pong");
    else {
      text = frame.opcode === OP.CONTINUATION ? [...(text ?? []), frame.payload] : [frame.payload];
      if (frame.fin) {
        out.push(`text ${Buffer.concat(text).toString("utf8")}`);
        text = null;
      }
    }
  }
  return out;
}

type Style = "listener" | "for await";
const STYLES: Style[] = ["listener", "for await"];

/** The application: echo every message, listener style or with `for await` (as the conformance scripts do). */
function echo(ws: WebSocket, style: Style, received: string[]): void {
  if (style === "listener") {
    ws.on("message", (message) => {
      received.push(message.text);
      ws.send(message).catch(() => {});
    });
    ws.on("error", () => {});
    return;
  }
  void (async () => {
    try {
      for await (const message of ws) {
        received.push(message.text);
        await ws.send(message);
      }
    } catch {
      // the connection closed while an echo was in flight
    }
  })();
}

function expected(c: FuzzCase): string[] {
  return [...c.messages.map((m) => `text ${m}`), "close 1002"];
}

describe("RFC 6455 7.1.7: messages before a protocol error are delivered and answered before the close", () => {
  describe("wsx as server, raw TCP client sending the suite's bytes", () => {
    const servers: WebSocketServer[] = [];
    after(async () => {
      for (const server of servers) await server.close({ timeout: 1000 });
    });

    for (const style of STYLES) {
      for (const c of CASES) {
        for (const chop of CHOPS) {
          const name = `case ${c.id}${chop === c.chops ? " (as the suite sends it)" : ""}, ${chop}, ${style}`;
          test(name, async () => {
            const received: string[] = [];
            let info: Promise<CloseInfo> | undefined;
            const server = await serve({ port: 0, host: LOOPBACK }, (ws) => {
              info = ws.closed;
              echo(ws, style, received);
            });
            servers.push(server);
            const client = await RawClient.connect(server.port);
            try {
              await client.handshake();
              await writeChopped(client.socket, caseFrames(c, true), chop);
              const bytes = await client.waitEnded(5000);
              const frames = parseFrames(bytes);
              assert.ok(frames.every((f) => !f.masked), "a server does not mask");
              assert.deepEqual(summarize(frames), expected(c), "the echo, then close 1002, and no pong");
              assert.deepEqual(received, c.messages);
              client.end();
              const closed = await deadline(info!, 5000, "server side closed");
              assert.equal((closed.error as WebSocketError | undefined)?.code, c.code);
            } finally {
              client.destroy();
            }
          });
        }
      }
    }
  });

  describe("wsx as client, raw TCP server sending the suite's bytes", () => {
    const raws: RawServer[] = [];
    after(async () => {
      for (const raw of raws) await raw.close();
    });

    for (const style of STYLES) {
      for (const c of CASES) {
        for (const chop of CHOPS) {
          const name = `case ${c.id}${chop === c.chops ? " (as the suite sends it)" : ""}, ${chop}, ${style}`;
          test(name, async () => {
            let collected: Promise<Buffer> | undefined;
            const raw = await listenHttpHead((request) => {
              const socket = request.socket;
              const chunks: Buffer[] = [];
              socket.on("data", (chunk: Buffer) => chunks.push(chunk));
              collected = new Promise((resolve) => socket.once("end", () => resolve(Buffer.concat(chunks))));
              socket.write(switchingResponse(request.headers["sec-websocket-key"]!), () => {
                void writeChopped(socket, caseFrames(c, false), chop).catch(() => {});
              });
            });
            raws.push(raw);
            const received: string[] = [];
            const ws = await connect(`ws://${LOOPBACK}:${raw.port}/`);
            echo(ws, style, received);
            const bytes = await deadline(
              (async () => {
                while (collected === undefined) await delay(1);
                return collected;
              })(),
              5000,
              "the client's answer",
            );
            const frames = parseFrames(bytes);
            assert.ok(frames.every((f) => f.masked), "a client masks");
            assert.deepEqual(summarize(frames), expected(c), "the echo, then close 1002, and no pong");
            assert.deepEqual(received, c.messages);
            raw.sockets[0]!.end();
            const closed = await deadline(ws.closed, 5000, "client closed");
            assert.equal((closed.error as WebSocketError | undefined)?.code, c.code);
          });
        }
      }
    }
  });

  describe("with the ws package as the peer", () => {
    test("ws client writes each case's bytes: it gets the echoes, then close 1002", async () => {
      const server = await serve({ port: 0, host: LOOPBACK }, (ws) => echo(ws, "for await", []));
      try {
        for (const c of CASES) {
          const peer = watch(new WsSocket(`ws://${LOOPBACK}:${server.port}/`));
          await once(peer.socket, "open");
          // Raw bytes on ws's own socket: ws has no API to send reserved opcodes or bits.
          (peer.socket as unknown as { _socket: Socket })._socket.write(Buffer.concat(caseFrames(c, true)));
          for (const message of c.messages) assert.equal((await peer.messages.next()).data.toString("utf8"), message, `case ${c.id}`);
          const { code } = await deadline(peer.closed, 5000, `case ${c.id}: ws closed`);
          assert.equal(code, 1002, `case ${c.id}`);
          assert.equal(peer.messages.size, 0, `case ${c.id}: nothing else`);
        }
      } finally {
        await server.close({ timeout: 1000 });
      }
    });

    test("ws server writes each case's bytes to a wsx client: it gets the echoes, then close 1002", async () => {
      const wss = new WsServer({ port: 0, host: LOOPBACK });
      await once(wss, "listening");
      const port = (wss.address() as { port: number }).port;
      try {
        for (const c of CASES) {
          const accepted = once(wss, "connection") as Promise<[WsSocket]>;
          const ws = await connect(`ws://${LOOPBACK}:${port}/`);
          echo(ws, "listener", []);
          const [socket] = await accepted;
          const peer = watch(socket);
          (socket as unknown as { _socket: Socket })._socket.write(Buffer.concat(caseFrames(c, false)));
          for (const message of c.messages) assert.equal((await peer.messages.next()).data.toString("utf8"), message, `case ${c.id}`);
          const { code } = await deadline(peer.closed, 5000, `case ${c.id}: ws closed`);
          assert.equal(code, 1002, `case ${c.id}`);
          const info = await deadline(ws.closed, 5000, `case ${c.id}: wsx closed`);
          assert.equal((info.error as WebSocketError | undefined)?.code, c.code);
        }
      } finally {
        for (const client of wss.clients) client.terminate();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      }
    });
  });
});
