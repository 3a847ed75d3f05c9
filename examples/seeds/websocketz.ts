/**
 * Seed 003 (websocketz, an async no_std Rust library): connect with a path
 * and extra headers, accept with response headers, send text, receive in a
 * loop until the connection closes, answer every message with a binary one,
 * auto-pong and auto-close switched off on one side and handled by hand, the
 * connection split into a reader and a writer half with the reader loop
 * echoing through the writer, fragmented sending, and a close-frame type.
 *
 * Messages borrow the read buffer as in the seed: `Frame.payload` and
 * `Message.bytes` are views of the received bytes, not copies.
 *
 * Run (after `npx tsc -p tsconfig.json`):
 *   node dist/examples/seeds/websocketz.js               # local server on 127.0.0.1, port 0
 *   node dist/examples/seeds/websocketz.js ws://host:port   # client only (path /ws is used), e.g. against an echo server
 *   WSX_URL=ws://... node dist/examples/seeds/websocketz.js
 * Exits 0 on success, 1 on failure.
 */
import { duplexPair, type Duplex } from "node:stream";
import { CloseCode, CloseFrame, Opcode, connect, serve, type CloseInfo } from "../../src/index.js";

const DEADLINE_MS = 15_000;
setTimeout(() => {
  console.error(`FAILED: still running after ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS).unref();

const decoder = new TextDecoder();

// ------------------------------------------------------------------ server

/**
 * The seed's server loop: receive messages until the connection closes and
 * answer each text message with a binary one (its bytes). Once two binary
 * messages came back it pings, then closes with a CloseFrame.
 */
async function startServer() {
  return serve(
    {
      host: "127.0.0.1",
      port: 0,
      path: "/ws",
      // Response headers of the 101 (the seed's AcceptOptions::with_headers).
      headers: { Server: "wsx" },
    },
    async (ws, request) => {
      console.log(`server: accepted ${request.path}, User-Agent "${request.headers["user-agent"]}", X-Demo "${request.headers["x-demo"] ?? ""}"`);
      let binaries = 0;
      for await (const message of ws) {
        console.log(`server: received ${message.type} "${decoder.decode(message.bytes)}"`);
        if (message.type === "text") {
          await ws.send(message.bytes); // bytes go out as a binary message
          continue;
        }
        if (++binaries < 2) continue;
        const rtt = await ws.ping("still there?", { timeout: 2000 });
        console.log(`server: pong received (answered by hand) after ${rtt.toFixed(1)} ms`);
        const bye = new CloseFrame(CloseCode.NORMAL, "done");
        console.log(`server: closing with CloseFrame(${bye.code}, "${bye.reason}")`);
        const info = await ws.close(bye);
        console.log(`server: closed, peer answered ${info.code} "${info.reason}", clean ${info.wasClean}`);
        break;
      }
    },
  );
}

// ------------------------------------------------------------------ client

/**
 * The seed's client, then its split example: send text, read in a loop, echo
 * every binary message back through the write half. Auto-pong and auto-close
 * are off on this side, so ping and close are answered by hand. With a
 * `stream`, the whole connection runs over it (websocketz runs over any
 * stream), handshake included.
 */
async function client(base: string, local: boolean, stream?: Duplex): Promise<CloseInfo> {
  const ws = await connect(new URL("/ws", base), {
    headers: { "User-Agent": "wsx", "X-Demo": "websocketz" },
    autoPong: false,
    autoClose: false,
    stream,
  });
  console.log(`client: connected to ${ws.url}${stream ? " over a caller's stream" : ""} (autoPong ${ws.autoPong}, autoClose ${ws.autoClose})`);
  console.log(`client: 101 response carries Server: ${ws.handshakeHeaders["server"] ?? "(none)"}`);
  if (local && ws.handshakeHeaders["server"] !== "wsx") throw new Error("missing Server response header");
  const { reader, writer } = ws.split();

  await writer.send("Hello, WebSocket!");
  console.log('client: sent text "Hello, WebSocket!"');
  const long = "this text travels as 8-byte fragments";
  await writer.sendFragmented(long, { fragmentSize: 8 });
  console.log(`client: sent text "${long}" in ${Math.ceil(long.length / 8)} fragments`);

  let replies = 0;
  let closeSent = false;
  for await (const frame of reader.frames()) {
    switch (frame.opcode) {
      case Opcode.PING:
        console.log(`client: ping "${decoder.decode(frame.payload)}", answering with a pong by hand`);
        await writer.pong(frame.payload);
        break;
      case Opcode.PONG:
        break;
      case Opcode.CLOSE: {
        if (closeSent) {
          console.log("client: close reply received");
          break;
        }
        // Echo the peer's code (RFC 6455 5.5.1); a close without one is answered with 1000.
        const received = frame.close!;
        const reply = new CloseFrame(received.code === CloseCode.NO_STATUS ? CloseCode.NORMAL : received.code, "bye");
        console.log(`client: close frame ${received.code} "${received.reason}", answering by hand with CloseFrame(${reply.code}, "${reply.reason}")`);
        await writer.close(reply);
        break;
      }
      default: {
        // frame.payload is a view of the read buffer (zero copy), valid as long as it is referenced.
        console.log(`client: received ${frame.type}${frame.fin ? "" : " fragment"} "${decoder.decode(frame.payload)}"`);
        if (frame.type === "binary" && frame.fin) {
          await writer.send(frame.payload);
          console.log("client: echoed it back through the write half");
        }
        replies++;
        // Against a server that just echoes, close after both replies; the local server closes by itself.
        if (!local && replies === 2) {
          closeSent = true;
          console.log("client: closing (1000)");
          void writer.close(CloseCode.NORMAL, "done");
        }
      }
    }
  }
  const info = await reader.closed;
  console.log(`client: connection closed (code ${info.code} "${info.reason}", clean ${info.wasClean})`);
  return info;
}

try {
  const target = process.argv[2] ?? process.env["WSX_URL"];
  if (target) {
    await client(target, false);
  } else {
    const server = await startServer();
    try {
      const info = await client(`ws://127.0.0.1:${server.port}`, true);
      if (info.code !== CloseCode.NORMAL || info.reason !== "done" || !info.wasClean) throw new Error("unexpected close");
      // The same session over a stream the program already has (here an in-process pair; an SSH
      // channel or a proxy tunnel would do): the server reads the handshake from its end.
      const [clientSide, serverSide] = duplexPair();
      server.handleStream(serverSide);
      const overStream = await client("ws://in-process", true, clientSide);
      if (overStream.code !== CloseCode.NORMAL || !overStream.wasClean) throw new Error("unexpected close over the stream");
    } finally {
      await server.close();
    }
  }
  console.log("websocketz: OK");
} catch (error) {
  console.error("FAILED:", error);
  process.exit(1);
}
