/**
 * Self-check of wsx/core under a runtime other than Node: run with
 * `node_modules/.bin/bun test/bun/core-under-bun.ts` (bun runs the TypeScript
 * sources directly). It imports nothing but the core and uses no runtime API
 * beyond what the core itself needs (TextEncoder/TextDecoder, Web Crypto), so
 * it runs unchanged anywhere; tsc type-checks it with the rest of test/.
 * Prints `core ok under bun X.Y.Z` and exits 0, or throws.
 */
import {
  CloseCode,
  FrameParser,
  HandshakeError,
  HttpHeadParser,
  Message,
  Opcode,
  Protocol,
  ProtocolError,
  buildAcceptResponse,
  buildClientRequest,
  computeAccept,
  parseUpgradeRequest,
  verifyServerResponse,
  type FrameSink,
  type HttpHead,
  type ProtocolEvent,
} from "../../src/core/index.js";

const encoder = new TextEncoder();
let checks = 0;

function check(condition: unknown, message: string): asserts condition {
  checks++;
  if (!condition) throw new Error(`check failed: ${message}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const chunk of chunks) size += chunk.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

function pattern(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + seed) & 0xff;
  return out;
}

/** Everything `from` has queued, as one fresh buffer (the receiver may unmask it in place). */
function drain(from: Protocol): Uint8Array {
  return concat(from.output());
}

/** Move queued bytes from one protocol to the other and return the receiver's events. */
function transfer(from: Protocol, to: Protocol): ProtocolEvent[] {
  to.receive(drain(from));
  return to.events();
}

/** Event types in order, e.g. "ping text". */
function types(events: readonly ProtocolEvent[]): string {
  return events.map((event) => event.type).join(" ");
}

/** The state through a call, so a checked value is not narrowed for the rest of the function. */
function stateOf(protocol: Protocol): string {
  return protocol.state;
}

function onlyMessage(events: ProtocolEvent[], what: string): Message {
  check(events.length === 1, `${what}: one event, got ${events.length}`);
  const message = events[0];
  check(message instanceof Message, `${what}: a Message`);
  return message;
}

// ---------------------------------------------------------------- round trip

function roundTrip(): void {
  const client = new Protocol({ role: "client" });
  const server = new Protocol({ role: "server" });

  // Text, client to server and back.
  client.sendText("héllo ✓ 🌍");
  let message = onlyMessage(transfer(client, server), "client text");
  check(message.type === "text" && message.text === "héllo ✓ 🌍", "client text arrives as text");
  server.sendText(message.text);
  message = onlyMessage(transfer(server, client), "server text");
  check(message.type === "text" && message.text === "héllo ✓ 🌍", "server text arrives as text");

  // Binary, small and large (the large one crosses the 16-bit and copy thresholds).
  for (const size of [0, 5, 125, 126, 65535, 65536, 200_000]) {
    const bytes = pattern(size, size);
    client.sendBinary(bytes);
    message = onlyMessage(transfer(client, server), `binary ${size}`);
    check(message.type === "binary" && sameBytes(message.bytes, bytes), `binary of ${size} bytes survives client to server`);
    server.sendBinary(bytes);
    message = onlyMessage(transfer(server, client), `binary ${size} back`);
    check(message.type === "binary" && sameBytes(message.bytes, bytes), `binary of ${size} bytes survives server to client`);
  }

  // Fragmented text, a character split between frames, with a ping in the middle.
  const euro = encoder.encode("a€b");
  client.sendFrame(Opcode.TEXT, euro.subarray(0, 2), false);
  client.ping(encoder.encode("mid"));
  client.sendFrame(Opcode.CONTINUATION, euro.subarray(2, 3), false);
  client.sendFrame(Opcode.CONTINUATION, euro.subarray(3), true);
  let events = transfer(client, server);
  check(types(events) === "ping text", `the ping is delivered before the message it interrupted: ${types(events)}`);
  message = onlyMessage(events.slice(1), "fragmented text");
  check(message.type === "text" && message.text === "a€b", "fragments reassemble into one text message");

  // Fragmented binary from the server.
  server.sendFrame(Opcode.BINARY, new Uint8Array([1, 2]), false);
  server.sendFrame(Opcode.CONTINUATION, new Uint8Array([]), false);
  server.sendFrame(Opcode.CONTINUATION, new Uint8Array([3]), true);
  // The server answered the ping automatically: the pong comes first.
  events = transfer(server, client);
  check(types(events) === "pong binary", `autoPong answered the ping: ${types(events)}`);
  check(sameBytes((events[0] as { payload: Uint8Array }).payload, encoder.encode("mid")), "the pong echoes the ping payload");
  message = onlyMessage(events.slice(1), "fragmented binary");
  check(message.type === "binary" && sameBytes(message.bytes, new Uint8Array([1, 2, 3])), "binary fragments reassemble");

  // Frame-by-frame delivery.
  client.deliver = "frames";
  server.sendFrame(Opcode.TEXT, "ab", false);
  server.sendFrame(Opcode.CONTINUATION, "c", true);
  events = transfer(server, client);
  check(types(events) === "frame frame", "frames mode gives one event per frame");
  const [f1, f2] = events.map((e) => (e as { frame: { fin: boolean; text?: string; type: string } }).frame);
  check(f1!.type === "text" && !f1!.fin && f1!.text === "ab", "first frame is a partial text frame");
  check(f2!.type === "text" && f2!.fin && f2!.text === "c", "continuation keeps the message type");
  client.deliver = "messages";

  // Close handshake, started by the client.
  check(client.close(CloseCode.NORMAL, "bye"), "close() sends a close frame");
  check(stateOf(client) === "closing", "client is closing after sending close");
  events = transfer(client, server);
  check(types(events) === "close", "server sees the close frame");
  const close = events[0] as { code: number; reason: string; received: boolean };
  check(close.code === 1000 && close.reason === "bye" && close.received, "close code and reason arrive");
  check(stateOf(server) === "closed" && server.shouldCloseTransport, "server answered and may close TCP");
  events = transfer(server, client);
  check(types(events) === "close", "client sees the answer");
  check(stateOf(client) === "closed" && client.closeCode === 1000, "client is closed with 1000");
  let threw = false;
  try {
    client.sendText("too late");
  } catch {
    threw = true;
  }
  check(threw, "sending after close throws");
}

// ---------------------------------------------------------------- one byte at a time

function byteAtATime(): void {
  const client = new Protocol({ role: "client" });
  client.sendText("one ✓");
  client.sendBinary(pattern(70_000, 1)); // 64-bit length header
  client.sendFrame(Opcode.TEXT, "fr", false);
  client.sendFrame(Opcode.CONTINUATION, "ag", true);
  client.ping(new Uint8Array([9]));
  client.sendBinary(new Uint8Array(0));
  client.close(4000, "custom");
  const wire = drain(client);

  const describe = (events: ProtocolEvent[]): string =>
    events
      .map((e) => (e instanceof Message ? `${e.type}:${e.bytes.length}:${e.bytes[e.bytes.length - 1] ?? "-"}` : `${e.type}`))
      .join(" ");

  const whole = new Protocol({ role: "server" });
  whole.receive(wire.slice());
  const expected = describe(whole.events());
  check(expected === "text:7:147 binary:70000:" + pattern(70_000, 1)[69_999] + " text:4:103 ping binary:0:- close", `whole input: ${expected}`);

  const slow = new Protocol({ role: "server" });
  const got: ProtocolEvent[] = [];
  const copy = wire.slice();
  for (let i = 0; i < copy.length; i++) {
    slow.receive(copy.subarray(i, i + 1));
    got.push(...slow.events());
  }
  check(describe(got) === expected, "one byte at a time gives the same events");
  const last = got[got.length - 1] as { code: number; reason: string };
  check(last.code === 4000 && last.reason === "custom", "close frame parsed byte by byte");

  // The bare frame parser, on a masked 16-bit length frame fed byte by byte.
  const calls: string[] = [];
  let payload: number[] = [];
  const sink: FrameSink = {
    onFrameHeader: (fin, rsv, opcode, length) => calls.push(`header ${fin} ${rsv} ${opcode} ${length}`),
    onFramePayload: (data) => (payload = payload.concat([...data])),
    onFrameEnd: () => calls.push("end"),
    onFrameError: (error) => calls.push(`error ${error.code}`),
  };
  const parser = new FrameParser({ role: "server", maxFrameSize: 1 << 20 }, sink);
  const one = new Protocol({ role: "client" });
  const body = pattern(300, 4);
  one.sendBinary(body);
  for (const byte of drain(one)) parser.push(new Uint8Array([byte]));
  check(calls.join(",") === "header true 0 2 300,end", `parser calls: ${calls.join(",")}`);
  check(sameBytes(new Uint8Array(payload), body), "parser unmasks the payload across 1-byte chunks");
}

// ---------------------------------------------------------------- protocol errors

/** Feed `bytes` to a fresh server protocol; return the error and the close code it sent. */
function violation(bytes: number[], limits: { maxMessageSize?: number } = {}): { code: string; sent: number } {
  const server = new Protocol({ role: "server", ...limits });
  server.receive(new Uint8Array(bytes));
  const error = server.events().find((e) => e.type === "error") as { error: ProtocolError } | undefined;
  check(error !== undefined && error.error instanceof ProtocolError, `error event for ${bytes.slice(0, 2)}`);
  check(server.failing && !server.shouldCloseTransport, "the close frame waits for output(): answers to earlier messages go first");
  // Read the close frame the server queues, as its client would.
  const client = new Protocol({ role: "client" });
  client.receive(drain(server));
  check(server.shouldCloseTransport, "a failed connection should close its transport once its close frame is out");
  const close = client.events().find((e) => e.type === "close") as { code: number } | undefined;
  check(close !== undefined, "the failing side sent a close frame");
  check(close.code === error.error.closeCode, "the close frame carries the error's close code");
  return { code: error.error.code, sent: close.code };
}

function protocolErrors(): void {
  const mask = [0, 0, 0, 0];
  let result = violation([0x81, 0x02, 0x68, 0x69]); // unmasked text from a client
  check(result.code === "UNMASKED_FRAME" && result.sent === 1002, `unmasked frame: ${JSON.stringify(result)}`);
  result = violation([0x83, 0x80, ...mask]); // reserved opcode
  check(result.code === "UNKNOWN_OPCODE" && result.sent === 1002, `reserved opcode: ${JSON.stringify(result)}`);
  result = violation([0xc1, 0x80, ...mask]); // RSV1 without an extension
  check(result.code === "RESERVED_BITS" && result.sent === 1002, `RSV1: ${JSON.stringify(result)}`);
  result = violation([0x80, 0x80, ...mask]); // continuation with nothing to continue
  check(result.code === "UNEXPECTED_CONTINUATION" && result.sent === 1002, `continuation: ${JSON.stringify(result)}`);
  result = violation([0x09, 0x80, ...mask]); // fragmented ping
  check(result.code === "CONTROL_FRAGMENTED" && result.sent === 1002, `fragmented ping: ${JSON.stringify(result)}`);
  result = violation([0x88, 0x82, ...mask, 0x03, 0xed]); // close code 1005 on the wire
  check(result.code === "INVALID_CLOSE_CODE" && result.sent === 1002, `close 1005: ${JSON.stringify(result)}`);
  result = violation([0x81, 0x82, ...mask, 0xc3, 0x28]); // invalid UTF-8
  check(result.code === "INVALID_UTF8" && result.sent === 1007, `bad UTF-8: ${JSON.stringify(result)}`);
  result = violation([0x82, 0x85, ...mask, 1, 2, 3, 4, 5], { maxMessageSize: 4 }); // over the limit
  check(result.code === "MESSAGE_TOO_BIG" && result.sent === 1009, `too big: ${JSON.stringify(result)}`);
}

// ---------------------------------------------------------------- opening handshake

function parseHead(kind: "request" | "response", bytes: Uint8Array, extra: Uint8Array): { head: HttpHead; rest: Uint8Array } {
  // One byte at a time, with frame bytes glued to the end as they would arrive.
  const parser = new HttpHeadParser(kind);
  const all = concat([bytes, extra]);
  for (let i = 0; i < all.length; i++) {
    const result = parser.push(all.subarray(i, i + 1));
    if (result !== null) return { head: result.head, rest: concat([result.rest, all.subarray(i + 1)]) };
  }
  throw new Error(`${kind} head never completed`);
}

function handshake(): void {
  const { request, key } = buildClientRequest({
    host: "127.0.0.1",
    port: 9001,
    path: "/runCase?case=7&agent=wsx",
    protocols: ["chat.v2", "chat.v1"],
    headers: { Origin: "http://example.test" },
  });
  const text = new TextDecoder().decode(request);
  check(text.startsWith("GET /runCase?case=7&agent=wsx HTTP/1.1\r\n"), "request line");
  check(text.includes("\r\nHost: 127.0.0.1:9001\r\n") && text.endsWith("\r\n\r\n"), "Host header and end of head");

  const early = new Uint8Array([0x81, 0x80, 0, 0, 0, 0]); // an empty masked text frame sent right away
  const received = parseHead("request", request, early);
  check(sameBytes(received.rest, early), "bytes after the request head are handed back");
  const upgrade = parseUpgradeRequest(received.head);
  check(upgrade.path === "/runCase" && upgrade.query === "case=7&agent=wsx", "path and query split");
  check(upgrade.key === key && upgrade.host === "127.0.0.1:9001", "key and host");
  check(upgrade.protocols.join() === "chat.v2,chat.v1" && upgrade.origin === "http://example.test", "protocols and origin");

  const response = buildAcceptResponse({ key: upgrade.key, protocol: "chat.v1" });
  const answered = parseHead("response", response, new Uint8Array(0));
  check(answered.head.startLine[1] === "101", "101 status");
  check(answered.head.headers["sec-websocket-accept"] === computeAccept(key), "accept matches the key");
  const accepted = verifyServerResponse(answered.head, key, { protocols: ["chat.v2", "chat.v1"] });
  check(accepted.protocol === "chat.v1" && accepted.extensions.length === 0, "client accepts the chosen subprotocol");
  // RFC 6455 section 1.3's worked example.
  check(computeAccept("dGhlIHNhbXBsZSBub25jZQ==") === "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "accept of the RFC sample key");

  let error: unknown;
  try {
    verifyServerResponse(answered.head, buildClientRequest({ host: "127.0.0.1" }).key, {});
  } catch (caught) {
    error = caught;
  }
  check(error instanceof HandshakeError && error.code === "INVALID_ACCEPT", "a response for another key is refused");

  error = undefined;
  try {
    const bad = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    parseUpgradeRequest(parseHead("request", bad, new Uint8Array(0)).head);
  } catch (caught) {
    error = caught;
  }
  check(error instanceof HandshakeError && error.status === 426, "a request without a version gets 426");
}

// ---------------------------------------------------------------- run

roundTrip();
byteAtATime();
protocolErrors();
handshake();

const bun = (globalThis as { Bun?: { version: string } }).Bun;
check(bun !== undefined, "run this under bun: node_modules/.bin/bun test/bun/core-under-bun.ts");
console.log(`core ok under bun ${bun.version} (${checks} checks)`);
