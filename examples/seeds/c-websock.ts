/**
 * Seed 002 (the C `websock_*` client API of an embedded SDK): the same five
 * calls as thin functions over wsx.
 *
 *   websockOpen(config)          -> handle, or null on error (C: NULL)
 *   websockSendText(h, text)     -> 0 or -1
 *   websockSendBinary(h, bytes)  -> 0 or -1
 *   websockRecv(h, len, timeoutMs) -> { fin, opcode, payloadLen, offset, data }: up to len bytes of a fragment;
 *                                   opcode -1 when nothing arrived in time (keep calling);
 *                                   null once the connection is closed (C: -1)
 *   websockClose(h)
 *
 * Ping and close frames are answered inside websockRecv, as in the seed.
 * The config takes a hostname or IP address, port, URI, TLS on/off with an
 * SSL config, a TCP connect timeout and extra "key:val" handshake headers;
 * Host, Upgrade, Connection, Sec-WebSocket-Key and Sec-WebSocket-Version are
 * set implicitly (the local server prints them as it receives them).
 *
 * Run (after `npx tsc -p tsconfig.json`):
 *   node dist/examples/seeds/c-websock.js                  # local echo servers (ws and wss) on 127.0.0.1, port 0
 *   node dist/examples/seeds/c-websock.js ws://host:port/uri   # against an echo server
 *   WSX_URL=wss://host/uri node dist/examples/seeds/c-websock.js
 * Exits 0 on success, 1 on failure.
 */
import { readFileSync } from "node:fs";
import { createServer, isIP } from "node:net";
import type { ConnectionOptions as TlsConnectionOptions } from "node:tls";
import { CloseCode, ConnectionClosedError, Opcode, TimeoutError, connect, serve, type WebSocket } from "../../src/index.js";

const DEADLINE_MS = 15_000;
setTimeout(() => {
  console.error(`FAILED: still running after ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS).unref();

// ------------------------------------------------------------------ the API

/** websock_config_t */
interface WebsockConfig {
  /** Host name or IP address of the server. */
  hostname: string;
  port: number;
  /** The websocket URI (path and query). */
  uri: string;
  /** wss:// when true. */
  secured: boolean;
  /** TLS settings (CA, client certificate...) for secured connections. */
  sslConfig?: TlsConnectionOptions;
  /** TCP (and TLS) connect timeout in ms. */
  timeOut: number;
  /** Extra handshake headers as "key:val" strings (num_hndshk_hdrs is the array length). */
  handshakeHeaders?: string[];
}

/** websock_msg_hdr_t, plus the payload that the C API copies into `buf`. */
interface WebsockMsg {
  /** End of message. */
  fin: boolean;
  /** Opcode of the frame; < 0 means nothing valid was received in this call. */
  opcode: number;
  /** Payload length of the whole fragment (the header's). */
  payloadLen: number;
  /** Where `data` starts in the fragment's payload (a fragment longer than the buffer takes several calls). */
  offset: number;
  data: Uint8Array;
}

/** websock_handle_t */
interface WebsockHandle {
  ws: WebSocket;
}

async function websockOpen(config: WebsockConfig): Promise<WebsockHandle | null> {
  const host = isIP(config.hostname) === 6 ? `[${config.hostname}]` : config.hostname;
  const url = `${config.secured ? "wss" : "ws"}://${host}:${config.port}${config.uri}`;
  const headers: Array<[string, string]> = [];
  for (const line of config.handshakeHeaders ?? []) {
    const colon = line.indexOf(":");
    if (colon <= 0) {
      console.error(`websock_open: bad header "${line}" (expected key:val)`);
      return null;
    }
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()]);
  }
  try {
    const ws = await connect(url, {
      headers,
      tls: config.secured ? config.sslConfig : undefined,
      timeout: config.timeOut, // the C API's one time_out bounds the whole open
    });
    // Payload pieces as they arrive, never more than the caller's buffer (websock_recv's len).
    ws.setDelivery("chunks");
    // Pings are answered by autoPong; the seed's websock_recv handles them without returning.
    ws.on("ping", () => console.log("  (websock_recv: ping handled internally)"));
    return { ws };
  } catch (error) {
    console.error(`websock_open: ${url}: ${(error as Error).message}`);
    return null;
  }
}

async function websockSendText(handle: WebsockHandle, payload: string): Promise<0 | -1> {
  try {
    await handle.ws.send(payload);
    return 0;
  } catch {
    return -1;
  }
}

async function websockSendBinary(handle: WebsockHandle, payload: Uint8Array): Promise<0 | -1> {
  try {
    await handle.ws.send(payload);
    return 0;
  } catch {
    return -1;
  }
}

const NOTHING: WebsockMsg = { fin: false, opcode: -1, payloadLen: 0, offset: 0, data: new Uint8Array(0) };

/**
 * Up to `len` payload bytes (the C buffer's size) of the fragment being
 * received: a longer fragment is returned over several calls, `payloadLen`
 * being its whole length and `offset` where this part starts.
 */
async function websockRecv(handle: WebsockHandle, len: number, timeoutMs: number): Promise<WebsockMsg | null> {
  try {
    const chunk = await handle.ws.receiveChunk({ maxBytes: len, timeout: timeoutMs });
    return { fin: chunk.fin, opcode: chunk.opcode, payloadLen: chunk.frameLength, offset: chunk.offset, data: chunk.payload };
  } catch (error) {
    // Nothing is lost on a timeout: the next call returns what arrives.
    if (error instanceof TimeoutError) return NOTHING;
    if (!(error instanceof ConnectionClosedError)) throw error;
    // The close reply went out automatically (autoClose); report the connection as gone.
    if (handle.ws.closeReceived !== null) console.log("  (websock_recv: close handled internally)");
    return null;
  }
}

async function websockClose(handle: WebsockHandle): Promise<void> {
  await handle.ws.close(CloseCode.NORMAL);
}

// ------------------------------------------------------------------ the application

const decoder = new TextDecoder();

function show(msg: WebsockMsg | null, binary = false): string {
  if (msg === null) return "-1 (connection closed)";
  if (msg.opcode < 0) return "timeout (opcode -1, nothing received)";
  const data = binary ? `[${[...msg.data].join(",")}]` : `"${decoder.decode(msg.data)}"`;
  return `fin=${msg.fin ? 1 : 0} opcode=${msg.opcode} payload_len=${msg.payloadLen} offset=${msg.offset} data=${data}`;
}

/** Receive one whole message, fragment by fragment, into a buffer of `len` bytes. */
async function receiveMessage(handle: WebsockHandle, len: number, timeoutMs: number): Promise<WebsockMsg[]> {
  const fragments: WebsockMsg[] = [];
  for (;;) {
    const msg = await websockRecv(handle, len, timeoutMs);
    const binary = (fragments[0] ?? msg)?.opcode === Opcode.BINARY;
    console.log(`websock_recv -> ${show(msg, binary)}`);
    if (msg === null || msg.opcode < 0) throw new Error("expected a fragment");
    fragments.push(msg);
    if (msg.fin && msg.offset + msg.data.length === msg.payloadLen) return fragments;
  }
}

async function application(config: WebsockConfig, full: boolean): Promise<void> {
  console.log(`websock_open(${config.secured ? "wss" : "ws"}://${config.hostname}:${config.port}${config.uri}, time_out=${config.timeOut})`);
  const handle = await websockOpen(config);
  if (handle === null) throw new Error("websock_open returned NULL");
  console.log("websock_open -> handle");

  const text = "hello from C";
  console.log(`websock_send_text("${text}", ${text.length}) -> ${await websockSendText(handle, text)}`);
  const [echo] = await receiveMessage(handle, 64, 2000);
  if (echo === undefined || decoder.decode(echo.data) !== text) throw new Error("text echo differs");

  if (full) {
    const bytes = Uint8Array.from({ length: 10 }, (_, i) => i);
    console.log(`websock_send_binary([0..9], ${bytes.length}) -> ${await websockSendBinary(handle, bytes)}`);
    // A 3-byte buffer: the 4-byte fragments come in two parts each.
    const fragments = await receiveMessage(handle, 3, 2000);
    const joined = fragments.flatMap((f) => [...f.data]);
    if (joined.join() !== [...bytes].join()) throw new Error("binary echo differs");
    console.log(`binary message reassembled from ${fragments.length} reads`);

    const idle = await websockRecv(handle, 64, 300);
    console.log(`websock_recv(timeout=300) -> ${show(idle)}`);
    if (idle === null || idle.opcode >= 0) throw new Error("expected a timeout");
  } else {
    // The server closes on request: websock_recv answers the close frame itself and reports -1.
    console.log(`websock_send_text("close please") -> ${await websockSendText(handle, "close please")}`);
    const gone = await websockRecv(handle, 64, 2000);
    console.log(`websock_recv -> ${show(gone)}`);
    if (gone !== null) throw new Error("expected the connection to be closed");
  }

  await websockClose(handle);
  console.log(`websock_close -> connection closed (code ${handle.ws.closeCode})`);
}

/** A port nobody listens on, to show websock_open failing. */
async function unusedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

const IMPLICIT = ["host", "upgrade", "connection", "sec-websocket-key", "sec-websocket-version"];

/**
 * Local echo server: prints the handshake headers; echoes text whole and
 * binary as 4-byte fragments after a ping; closes on "close please".
 */
async function localServer(tls: { cert: Buffer; key: Buffer } | undefined) {
  return serve({ host: "127.0.0.1", port: 0, tls }, async (ws, request) => {
    console.log(`server: handshake headers for ${request.target}:`);
    for (const [name, value] of request.rawHeaders) {
      const how = IMPLICIT.includes(name.toLowerCase()) ? "implicit" : "from hndshk_hdrs";
      console.log(`server:   ${name}: ${value}   (${how})`);
    }
    for await (const message of ws) {
      if (message.type === "text" && message.text === "close please") {
        await ws.close(CloseCode.NORMAL, "bye");
      } else if (message.type === "text") {
        await ws.send(message);
      } else {
        await ws.ping("are you there?");
        await ws.sendFragmented(message, { fragmentSize: 4 });
      }
    }
  });
}

try {
  const target = process.argv[2] ?? process.env["WSX_URL"];
  if (target) {
    const url = new URL(target);
    const secured = url.protocol === "wss:";
    await application(
      {
        hostname: url.hostname.replace(/^\[|\]$/g, ""),
        port: Number(url.port || (secured ? 443 : 80)),
        uri: `${url.pathname}${url.search}`,
        secured,
        timeOut: 5000,
        handshakeHeaders: ["X-Device-Id:dev-42"],
      },
      true,
    );
  } else {
    const fixtures = new URL("../../../test/fixtures/", import.meta.url);
    const cert = readFileSync(new URL("cert.pem", fixtures));
    const key = readFileSync(new URL("key.pem", fixtures));

    const plain = await localServer(undefined);
    try {
      // By IP address, plain TCP, with two extra headers.
      await application(
        {
          hostname: "127.0.0.1",
          port: plain.port,
          uri: "/websocket?device=42",
          secured: false,
          timeOut: 3000,
          handshakeHeaders: ["X-Device-Id:dev-42", "Origin: http://device.local"],
        },
        true,
      );
    } finally {
      await plain.close();
    }

    const secure = await localServer({ cert, key });
    try {
      // By host name, over TLS, trusting the test certificate.
      await application(
        { hostname: "localhost", port: secure.port, uri: "/secure", secured: true, sslConfig: { ca: cert }, timeOut: 3000 },
        false,
      );
    } finally {
      await secure.close();
    }

    const port = await unusedPort();
    console.log(`websock_open(ws://127.0.0.1:${port}/, nobody listening)`);
    const nothing = await websockOpen({ hostname: "127.0.0.1", port, uri: "/", secured: false, timeOut: 1000 });
    console.log(`websock_open -> ${nothing === null ? "NULL" : "handle"}`);
    if (nothing !== null) throw new Error("websock_open should have failed");
  }
  console.log("c-websock: OK");
} catch (error) {
  console.error("FAILED:", error);
  process.exit(1);
}
