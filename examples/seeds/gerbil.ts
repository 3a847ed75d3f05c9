/**
 * Seed 004 (Gerbil Scheme's :std/net/websocket): the `WebSocket` interface
 * (send, send-all, recv, recv-all, protocol, max-frame-size) over wsx, with
 * messages as data + type + partial flag.
 *
 * Client: connect by URL with a protocol list, redirect, headers, cookies,
 * params, basic auth, a TLS context, a timeout and a max frame size.
 * Server: a request handler on an existing node:https server
 * (`WebSocketServer#handleUpgrade`) with a select-protocol callback.
 * send = one frame, size-checked (too big is an error); send-all = fragments
 * above the max frame size; recv = one frame; recv-all = frames reassembled
 * up to a maximum message size (an error beyond it).
 *
 * Run (after `npx tsc -p tsconfig.json`):
 *   node dist/examples/seeds/gerbil.js                  # local wss server (test/fixtures cert) on 127.0.0.1, port 0
 *   node dist/examples/seeds/gerbil.js ws://host:port/path   # client only, against an echo server
 *   WSX_URL=wss://host/path node dist/examples/seeds/gerbil.js
 * Exits 0 on success, 1 on failure.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import {
  CloseCode,
  ConnectionClosedError,
  Opcode,
  SizeLimitError,
  UsageError,
  WebSocketServer,
  connect,
  type Frame,
  type WebSocket,
} from "../../src/index.js";
import { buildRejectResponse } from "../../src/core/index.js";

const DEADLINE_MS = 15_000;
setTimeout(() => {
  console.error(`FAILED: still running after ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS).unref();

// ------------------------------------------------------------------ the interface

type MessageType = "text" | "binary" | "ping" | "pong" | "close";

/** The seed's `message` struct: text and close carry strings, the other types bytes. */
class WsMessage {
  constructor(
    readonly data: string | Uint8Array,
    readonly type: MessageType,
    readonly partial = false,
  ) {
    const wantsString = type === "text" || type === "close";
    if (wantsString !== (typeof data === "string")) {
      throw new TypeError(`a ${type} message carries ${wantsString ? "a string" : "bytes"}`);
    }
  }

  toString(): string {
    const data = typeof this.data === "string" ? JSON.stringify(this.data) : `<${this.data.length} bytes>`;
    return `{ data: ${data}, type: ${this.type}, partial: ${this.partial} }`;
  }
}

const encoder = new TextEncoder();

/** The seed's `WebSocket` interface over a wsx connection. */
class GerbilWebSocket {
  private readonly frames: AsyncIterator<Frame>;
  /** A partial message is being sent: the next data frame is a continuation. */
  private continuing = false;

  constructor(readonly ws: WebSocket) {
    ws.setDelivery("frames"); // from now on, not from the first recv
    this.frames = ws.frames();
  }

  /** The negotiated sub-protocol, or null. */
  get protocol(): string | null {
    return this.ws.protocol;
  }

  /** Largest frame accepted, and largest frame `send` will write. */
  get maxFrameSize(): number {
    return this.ws.maxFrameSize;
  }

  /** One frame; an error if it is over maxFrameSize. A partial message continues with the next send. */
  async send(message: WsMessage): Promise<void> {
    const bytes = typeof message.data === "string" ? encoder.encode(message.data) : message.data;
    switch (message.type) {
      case "ping":
        return this.ws.sendFrame(Opcode.PING, bytes);
      case "pong":
        return this.ws.sendFrame(Opcode.PONG, bytes);
      case "close":
        await this.ws.close(CloseCode.NORMAL, message.data as string);
        return;
      default: {
        const opcode = this.continuing ? Opcode.CONTINUATION : message.type === "text" ? Opcode.TEXT : Opcode.BINARY;
        await this.ws.sendFrame(opcode, bytes, !message.partial); // rejects with FRAME_TOO_BIG over maxFrameSize
        this.continuing = message.partial;
      }
    }
  }

  /** A whole message of any size: fragmented into frames of at most maxFrameSize. */
  async sendAll(message: WsMessage): Promise<void> {
    if (message.type !== "text" && message.type !== "binary") return this.send(message);
    await this.ws.send(message.data, { type: message.type });
  }

  /** The next frame as a message (partial when more frames of it follow). */
  async recv(): Promise<WsMessage> {
    const next = await this.frames.next();
    if (next.done === true) throw new ConnectionClosedError(this.ws.closeCode ?? CloseCode.ABNORMAL, "");
    const frame = next.value;
    if (frame.type === "close") return new WsMessage(frame.close!.reason, "close");
    if (frame.type === "text") return new WsMessage(frame.text ?? "", "text", frame.partial);
    return new WsMessage(frame.payload, frame.type, frame.partial);
  }

  /**
   * The next message, its frames reassembled; over `maxMessageSize` bytes
   * it is refused with SizeLimitError `RECEIVE_TOO_BIG` (and skipped: the
   * connection stays usable).
   */
  async recvAll(maxMessageSize: number): Promise<WsMessage> {
    const message = await this.ws.receive({ maxSize: maxMessageSize });
    return new WsMessage(message.type === "text" ? message.text : message.bytes, message.type);
  }
}

// ------------------------------------------------------------------ server

const MAX_FRAME = 1024;

/** The seed's `continue` procedure: what the server does with each upgraded connection. */
async function serverSession(sock: GerbilWebSocket): Promise<void> {
  console.log(`server: protocol ${sock.protocol}, max frame size ${sock.maxFrameSize}`);
  console.log(`server: recv -> ${await sock.recv()}`);
  console.log(`server: recv-all -> ${await sock.recvAll(4096)}`);

  for (const [data, partial] of [["partial ", true], ["frames ", true], ["demo", false]] as const) {
    await sock.send(new WsMessage(data, "text", partial));
  }
  await sock.send(new WsMessage(encoder.encode("ping!"), "ping"));
  console.log(`server: recv -> ${await sock.recv()}`);
  await sock.sendAll(new WsMessage(new Uint8Array(5000).fill(7), "binary"));
  console.log(`server: send-all of 5000 bytes as ${Math.ceil(5000 / sock.maxFrameSize)} frames`);
}

async function startServer(cert: Buffer, key: Buffer) {
  const wss = new WebSocketServer(
    {
      path: "/ws",
      maxFrameSize: MAX_FRAME,
      // The seed's select-protocol: called only when the client offers some.
      selectProtocol: (offered) => {
        const choice = offered.includes("superchat") ? "superchat" : null;
        console.log(`server: client offers [${offered.join(", ")}], selecting ${choice}`);
        return choice;
      },
    },
    async (ws, request) => {
      const auth = Buffer.from((request.headers["authorization"] ?? "").replace(/^Basic /, ""), "base64").toString();
      console.log(`server: upgraded ${request.path}?${request.query}`);
      console.log(`server: cookie "${request.headers["cookie"]}", auth "${auth}", X-Client "${request.headers["x-client"]}"`);
      const sock = new GerbilWebSocket(ws);
      await serverSession(sock);
      const info = await ws.closed;
      console.log(`server: connection closed by the client with ${info.code} "${info.reason}"`);
    },
  );
  // An existing HTTPS server: plain requests get a page, upgrades go to the websocket handler.
  const https = createHttpsServer({ cert, key }, (_request, response) => {
    response.writeHead(426, { "Content-Type": "text/plain" }).end("websocket endpoint at /ws\n");
  });
  https.on("upgrade", (request, socket, head) => {
    const url = new URL(request.url ?? "/", "https://localhost");
    if (url.pathname === "/old") {
      console.log(`server: ${url.pathname} moved, redirecting to /ws${url.search}`);
      socket.end(buildRejectResponse(302, { headers: { Location: `/ws${url.search}` } }));
      return;
    }
    wss.handleUpgrade(request, socket, head);
  });
  await new Promise<void>((resolve) => https.listen(0, "127.0.0.1", resolve));
  const { port } = https.address() as { port: number };
  return {
    port,
    async close(): Promise<void> {
      await wss.close();
      await new Promise<void>((resolve) => https.close(() => resolve()));
    },
  };
}

// ------------------------------------------------------------------ client

async function localClient(port: number, ca: Buffer): Promise<void> {
  const ws = await connect(`wss://127.0.0.1:${port}/old`, {
    protocols: "chat, superchat",
    redirect: true,
    headers: { "X-Client": "gerbil-demo" },
    cookies: { session: "abc123", theme: "dark" },
    params: { room: "lobby" },
    auth: { username: "gerbil", password: "scheme" },
    tls: { ca }, // the ssl-context
    timeout: 5000,
    maxFrameSize: MAX_FRAME,
  });
  const sock = new GerbilWebSocket(ws);
  console.log(`client: connected to ${ws.url}, protocol ${sock.protocol}, max frame size ${sock.maxFrameSize}`);
  if (sock.protocol !== "superchat") throw new Error("expected superchat");

  await sock.send(new WsMessage("hello from gerbil", "text"));
  console.log("client: send -> one text frame");
  try {
    await sock.send(new WsMessage(new Uint8Array(2000), "binary"));
    throw new Error("an oversized send was accepted");
  } catch (error) {
    if (!(error instanceof UsageError) || error.code !== "FRAME_TOO_BIG") throw error;
    console.log(`client: send of 2000 bytes -> error ${error.code}: ${error.message}`);
  }
  await sock.sendAll(new WsMessage(new Uint8Array(3000).fill(1), "binary"));
  console.log(`client: send-all of 3000 bytes as ${Math.ceil(3000 / sock.maxFrameSize)} frames`);

  let text = "";
  for (;;) {
    const message = await sock.recv();
    console.log(`client: recv -> ${message}`);
    text += message.data as string;
    if (!message.partial) break;
  }
  if (text !== "partial frames demo") throw new Error(`unexpected text "${text}"`);
  const ping = await sock.recv();
  console.log(`client: recv -> ${ping} (pong sent automatically)`);
  if (ping.type !== "ping") throw new Error("expected a ping");

  try {
    await sock.recvAll(4096);
    throw new Error("an oversized message was accepted");
  } catch (error) {
    if (!(error instanceof SizeLimitError)) throw error;
    console.log(`client: recv-all (max 4096) -> error ${error.code}: ${error.message}`);
  }
  const info = await ws.close(CloseCode.MESSAGE_TOO_BIG, "message too big");
  console.log(`client: closed with ${CloseCode.MESSAGE_TOO_BIG}, server answered ${info.code}, clean ${info.wasClean}`);
}

/** Against a server that echoes: send, recv, send-all, recv-all, close. */
async function remoteClient(url: string): Promise<void> {
  const ws = await connect(url, { protocols: "chat, superchat", redirect: true, timeout: 5000, maxFrameSize: 4096 });
  const sock = new GerbilWebSocket(ws);
  console.log(`client: connected to ${ws.url}, protocol ${sock.protocol}, max frame size ${sock.maxFrameSize}`);
  await sock.send(new WsMessage("hello from gerbil", "text"));
  console.log(`client: recv -> ${await sock.recv()}`);
  await sock.sendAll(new WsMessage(new Uint8Array(3000).fill(1), "binary"));
  console.log(`client: recv-all -> ${await sock.recvAll(64 * 1024)}`);
  await sock.send(new WsMessage("done", "close"));
  console.log("client: closed");
}

try {
  const target = process.argv[2] ?? process.env["WSX_URL"];
  if (target) {
    await remoteClient(target);
  } else {
    const fixtures = new URL("../../../test/fixtures/", import.meta.url);
    const cert = readFileSync(new URL("cert.pem", fixtures));
    const key = readFileSync(new URL("key.pem", fixtures));
    const server = await startServer(cert, key);
    try {
      await localClient(server.port, cert);
    } finally {
      await server.close();
    }
  }
  console.log("gerbil: OK");
} catch (error) {
  console.error("FAILED:", error);
  process.exit(1);
}
