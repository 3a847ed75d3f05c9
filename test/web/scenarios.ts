/**
 * The differential scenarios: one script, run unchanged in headless
 * Chromium's page (as source text), on Node's undici WebSocket and on
 * wsx/web. Each returns a log of what the API showed: events with their
 * class, fields and readyState, attributes, exception names, and what the
 * server received. The functions below must stay self-contained (no imports,
 * nothing from module scope): the page evaluates their source, and the
 * tools they share come in as an argument.
 */

/** Where the scenarios connect: the wsx test server (`ws`), its HTTP side (`http`), a port nobody listens on. */
export interface ScenarioEnv {
  ws: string;
  http: string;
  refused: string;
}

/* eslint-disable @typescript-eslint/no-explicit-any */
type Ctor = any;

/** Names of the WebSocket scenarios, in the order they run. */
export const SCENARIOS = [
  "text",
  "binary-blob",
  "binary-arraybuffer",
  "binary-type-invalid",
  "large",
  "subprotocol",
  "server-close",
  "server-close-empty",
  "server-messages-then-close",
  "client-close-codes",
  "server-drop",
  "handshake-refused",
  "connection-refused",
  "bad-port",
  "invalid-arguments",
  "close-while-connecting",
  "send-while-connecting",
  "send-after-close",
  "events-are-tasks",
  "handler-order",
  "protocol-error",
  "invalid-utf8",
  "http-url",
  "blob-order",
  "json",
  "close-in-message-handler",
  "conversions",
  "payload-lengths",
  "close-unanswered",
] as const;

/** Names of the WebSocketStream scenarios. */
export const STREAM_SCENARIOS = [
  "stream-echo",
  "stream-server-close",
  "stream-refused",
  "stream-abort",
  "stream-invalid",
  "stream-drop",
  "stream-writer-close",
  "stream-cancel-with-error",
  "stream-close-while-connecting",
  "stream-close-arguments",
  "stream-close-unanswered",
] as const;

/** What both scenario functions log with: outcomes of calls, of promises, and the server's view. */
export function scenarioTools(log: unknown[], env: ScenarioEnv) {
  const failure = (error: any): unknown => ({ name: error?.name, closeCode: error?.closeCode, reason: error?.reason });
  return {
    failure,
    /** Log whether `action` threw, and the exception's name if it did. */
    attempt(what: string, action: () => unknown): any {
      try {
        const result = action();
        log.push([what, "ok"]);
        return result;
      } catch (error) {
        log.push([what, (error as Error).name]);
        return undefined;
      }
    },
    /** Log whether `promise` resolved or rejected (and with what). */
    async settle(what: string, promise: Promise<any>): Promise<any> {
      try {
        const value = await promise;
        log.push([what, "resolved"]);
        return value;
      } catch (error) {
        log.push([what, "rejected", failure(error)]);
        return undefined;
      }
    },
    /** Log the close frame the server received on the connection tagged `id`. */
    async serverSaw(id: string): Promise<void> {
      const response = await fetch(`${env.http}/closes?id=${id}`);
      log.push({ server: await response.json() });
    },
  };
}

export type ScenarioTools = typeof scenarioTools;

export async function runScenario(WS: Ctor, name: string, env: ScenarioEnv, tools: ScenarioTools): Promise<unknown[]> {
  const log: unknown[] = [];
  const { attempt, serverSaw } = tools(log, env);
  const pending: Array<Promise<unknown>> = [];
  const hash = (bytes: Uint8Array): number => {
    let h = 0;
    for (let i = 0; i < bytes.length; i++) h = (h * 31 + bytes[i]!) >>> 0;
    return h;
  };
  const describe = (data: unknown): Record<string, unknown> => {
    if (typeof data === "string") return { kind: "string", length: data.length, text: data.length > 200 ? `#${data.length}` : data };
    const kind = Object.prototype.toString.call(data).slice(8, -1);
    if (data instanceof Blob) {
      const entry: Record<string, unknown> = { kind, size: data.size, type: data.type };
      pending.push(data.arrayBuffer().then((buffer) => (entry.hash = hash(new Uint8Array(buffer)))));
      return entry;
    }
    if (data instanceof ArrayBuffer) return { kind, size: data.byteLength, hash: hash(new Uint8Array(data)) };
    return { kind };
  };
  /** Record every event of `ws`; resolves on close. */
  const record = (ws: any, tag = ""): Promise<void> =>
    new Promise((resolve) => {
      for (const type of ["open", "message", "error", "close"]) {
        ws.addEventListener(type, (event: any) => {
          const entry: Record<string, unknown> = { event: type, tag, class: event.constructor.name, readyState: ws.readyState };
          if (type === "message") Object.assign(entry, describe(event.data), { origin: event.origin === env.ws.replace(/\/$/, "") });
          if (type === "close") Object.assign(entry, { code: event.code, reason: event.reason, wasClean: event.wasClean });
          log.push(entry);
          if (type === "close") resolve();
        });
      }
    });
  const opened = (ws: any): Promise<void> => new Promise((resolve) => ws.addEventListener("open", () => resolve(), { once: true }));
  const messages = (ws: any, count: number): Promise<any[]> =>
    new Promise((resolve) => {
      const got: any[] = [];
      ws.addEventListener("message", (event: any) => {
        got.push(event.data);
        if (got.length === count) resolve(got);
      });
    });
  const attributes = (ws: any): void => {
    log.push({
      url: ws.url,
      protocol: ws.protocol,
      extensions: ws.extensions,
      binaryType: ws.binaryType,
      bufferedAmount: ws.bufferedAmount,
      readyState: ws.readyState,
      constants: [ws.CONNECTING, ws.OPEN, ws.CLOSING, ws.CLOSED, WS.CONNECTING, WS.OPEN, WS.CLOSING, WS.CLOSED],
    });
  };
  const bytes = (length: number, seed: number): Uint8Array => {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) out[i] = (i * seed + (i >> 8)) & 0xff;
    return out;
  };

  switch (name) {
    case "text": {
      const ws = new WS(`${env.ws}/echo?id=text`);
      attributes(ws);
      const closed = record(ws);
      await opened(ws);
      attributes(ws);
      ws.send("héllo ✓ 😀");
      ws.send("");
      await messages(ws, 2);
      ws.close(1000, "done ✓");
      log.push({ afterClose: ws.readyState });
      await closed;
      attributes(ws);
      await serverSaw("text");
      break;
    }
    case "binary-blob": {
      const ws = new WS(`${env.ws}/echo`);
      const closed = record(ws);
      await opened(ws);
      ws.send(bytes(256, 1));
      ws.send(new Uint8Array(0));
      await messages(ws, 2);
      ws.close();
      await closed;
      break;
    }
    case "binary-arraybuffer": {
      const ws = new WS(`${env.ws}/echo`);
      ws.binaryType = "arraybuffer";
      log.push({ binaryType: ws.binaryType });
      const closed = record(ws);
      await opened(ws);
      const source = bytes(1000, 3);
      ws.send(source.buffer);
      ws.send(new DataView(source.buffer, 10, 20));
      ws.send(new Int16Array(source.buffer, 100, 50));
      ws.send(source.subarray(500, 600));
      source.fill(0); // the data sent is the data as it was when send() was called
      await messages(ws, 4);
      ws.close(3000);
      await closed;
      break;
    }
    case "binary-type-invalid": {
      const ws = new WS(`${env.ws}/echo`);
      ws.binaryType = "nodebuffer-nope";
      log.push({ binaryType: ws.binaryType });
      ws.binaryType = "arraybuffer";
      ws.binaryType = "bogus";
      log.push({ binaryType: ws.binaryType });
      const closed = record(ws);
      ws.close();
      await closed;
      break;
    }
    case "large": {
      const ws = new WS(`${env.ws}/echo`);
      ws.binaryType = "arraybuffer";
      const closed = record(ws);
      await opened(ws);
      const text = "wsx ✓ ".repeat(1024 * 1024 / 8);
      ws.send(bytes(1024 * 1024, 7));
      ws.send(text);
      log.push({ bufferedAfterSends: ws.bufferedAmount });
      await messages(ws, 2);
      for (let i = 0; i < 500 && ws.bufferedAmount > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      log.push({ bufferedAfterEchoes: ws.bufferedAmount });
      ws.close(1000);
      await closed;
      break;
    }
    case "subprotocol": {
      const a = new WS(`${env.ws}/echo`, ["chat.v2", "chat.v1"]);
      const aClosed = record(a, "array");
      await opened(a);
      log.push({ protocol: a.protocol });
      a.close();
      await aClosed;
      const b = new WS(`${env.ws}/echo`, "solo");
      const bClosed = record(b, "string");
      await opened(b);
      log.push({ protocol: b.protocol });
      b.close();
      await bClosed;
      break;
    }
    case "server-close": {
      const ws = new WS(`${env.ws}/close?code=4001&reason=${encodeURIComponent("server says bye ✓")}`);
      await record(ws);
      break;
    }
    case "server-close-empty": {
      const ws = new WS(`${env.ws}/close-empty`);
      await record(ws);
      break;
    }
    case "server-messages-then-close": {
      const ws = new WS(`${env.ws}/send3-close`);
      ws.binaryType = "arraybuffer";
      await record(ws);
      break;
    }
    case "client-close-codes": {
      const reason123 = "é".repeat(61) + "x";
      const cases: Array<[string, number | undefined, string | undefined]> = [
        ["none", undefined, undefined],
        ["1000", 1000, undefined],
        ["3000", 3000, "x"],
        ["4999", 4999, reason123],
        ["clamped", 1000.4, "clamped"],
      ];
      for (const [id, code, reason] of cases) {
        const ws = new WS(`${env.ws}/echo?id=close-${id}`);
        const closed = record(ws, id);
        await opened(ws);
        if (code === undefined) ws.close();
        else if (reason === undefined) ws.close(code);
        else ws.close(code, reason);
        await closed;
        await serverSaw(`close-${id}`);
      }
      break;
    }
    case "server-drop": {
      const ws = new WS(`${env.ws}/drop`);
      const closed = record(ws);
      await opened(ws);
      ws.send("drop me");
      await closed;
      break;
    }
    case "handshake-refused": {
      await record(new WS(`${env.ws}/refuse`));
      break;
    }
    case "connection-refused": {
      await record(new WS(env.refused));
      break;
    }
    case "bad-port": {
      const ws = attempt("construct", () => new WS("ws://127.0.0.1:1/"));
      if (ws !== undefined) await record(ws);
      break;
    }
    case "invalid-arguments": {
      const url = `${env.ws}/echo`;
      const made: any[] = [];
      const construct = (what: string, ...args: unknown[]): void => {
        const ws = attempt(what, () => new WS(...args));
        if (ws !== undefined) made.push(ws);
      };
      // Relative URLs depend on the environment (a page resolves them against its URL; Node has
      // no document, so no base URL): websocket.test.ts checks them on Node.
      construct("no arguments");
      construct("not a url", "http://[::1");
      construct("ftp scheme", "ftp://127.0.0.1/");
      construct("file scheme", "file:///tmp/x");
      construct("fragment", `${url}#frag`);
      construct("empty fragment", `${url}#`);
      construct("escaped hash", `${url}%23frag`);
      construct("duplicate protocols", url, ["chat", "chat"]);
      construct("duplicate protocols, case", url, ["chat", "CHAT"]);
      construct("empty protocol", url, [""]);
      construct("empty protocol string", url, "");
      construct("protocol with space", url, ["a b"]);
      construct("protocol with comma", url, "a,b");
      construct("non-ascii protocol", url, ["é"]);
      construct("separator in protocol", url, ["a/b"]);
      construct("control in protocol", url, ["a\u0001"]);
      construct("valid token characters", url, ["!#$%&'*+-.^_`|~09azAZ"]);
      construct("protocols a plain object", url, {});
      construct("protocols with a symbol", url, ["a", Symbol("b")]);
      construct("protocols null (the string 'null')", url, null);
      construct("url a symbol", Symbol("u"));
      construct("url with a space in the host", "ws://exa mple/");
      construct("url object", new URL(url));
      attempt("called without new", () => WS(url));
      const ws = made[made.length - 1];
      attempt("send while connecting", () => ws.send("x"));
      for (const [what, args] of [
        ["close 0", [0]],
        ["close 500", [500]],
        ["close 2**16+1000 (clamped)", [0x10000 + 1000]],
        ["close 999", [999]],
        ["close 1001", [1001]],
        ["close 1005", [1005]],
        ["close 2999", [2999]],
        ["close 5000", [5000]],
        ["close 65536 (clamped)", [65536]],
        ["close -1 (clamped)", [-1]],
        ["close NaN", [NaN]],
        ["close string", ["x"]],
        ["close null", [null]],
        ["close symbol", [Symbol("c")]],
        ["close 1000 with a symbol reason", [1000, Symbol("r")]],
        ["close 1000 with 124-byte reason", [1000, "x".repeat(124)]],
        ["close 1000 with 62 two-byte characters", [1000, "é".repeat(62)]],
        ["close 4000 with 123-byte reason", [4000, "x".repeat(123)]],
      ] as Array<[string, unknown[]]>) {
        attempt(what, () => made[0].close(...args));
      }
      log.push({ readyState: made[0].readyState, made: made.length > 0 });
      for (const m of made) {
        m.onerror = null;
        m.close();
      }
      break;
    }
    case "close-while-connecting": {
      const ws = new WS(`${env.ws}/echo`);
      const closed = record(ws);
      ws.close(1000, "never mind");
      log.push({ afterClose: ws.readyState });
      ws.close();
      await closed;
      break;
    }
    case "send-while-connecting": {
      const ws = new WS(`${env.ws}/echo`);
      attempt("send", () => ws.send("early"));
      log.push({ bufferedAmount: ws.bufferedAmount });
      const closed = record(ws);
      await opened(ws);
      ws.close();
      await closed;
      break;
    }
    case "send-after-close": {
      const ws = new WS(`${env.ws}/echo?id=after-close`);
      const closed = record(ws);
      await opened(ws);
      ws.close(4000, "closing");
      attempt("send text while closing", () => ws.send("abc"));
      attempt("send bytes while closing", () => ws.send(new Uint8Array(5)));
      attempt("send blob while closing", () => ws.send(new Blob(["1234567"])));
      log.push({ bufferedWhileClosing: ws.bufferedAmount, readyState: ws.readyState });
      await closed;
      attempt("send after closed", () => ws.send("zz"));
      log.push({ bufferedAfterClosed: ws.bufferedAmount });
      await serverSaw("after-close");
      break;
    }
    case "events-are-tasks": {
      const ws = new WS(`${env.ws}/echo`);
      const closed = record(ws);
      await opened(ws);
      ws.send("one");
      log.push("returned from send");
      ws.close();
      log.push("returned from close");
      await closed;
      break;
    }
    case "handler-order": {
      const ws = new WS(`${env.ws}/echo`);
      const order: string[] = [];
      ws.addEventListener("message", () => order.push("A"));
      ws.onmessage = () => order.push("B");
      ws.addEventListener("message", () => order.push("C"));
      ws.onmessage = () => order.push("B2"); // replaces B in place
      await opened(ws);
      ws.send("first");
      await messages(ws, 1);
      log.push({ first: order.splice(0) });
      ws.onmessage = null; // removed...
      ws.onmessage = () => order.push("B3"); // ...and added again at the end
      ws.send("second");
      await messages(ws, 1);
      log.push({ second: order.splice(0) });
      ws.onmessage = 5;
      log.push({ afterNumber: ws.onmessage });
      ws.onmessage = "alert(1)";
      log.push({ afterString: ws.onmessage });
      const object = {};
      ws.onmessage = object;
      log.push({ objectKept: ws.onmessage === object });
      ws.onmessage = null;
      const handler = (): void => undefined;
      ws.onclose = handler;
      log.push({ functionKept: ws.onclose === handler, initial: ws.onopen === null && ws.onerror === null });
      ws.onclose = null;
      const closed = record(ws);
      ws.close();
      await closed;
      break;
    }
    case "protocol-error": {
      await record(new WS(`${env.ws}/raw/bad-opcode`));
      break;
    }
    case "invalid-utf8": {
      await record(new WS(`${env.ws}/raw/bad-utf8`));
      break;
    }
    case "http-url": {
      const ws = new WS(`${env.ws.replace(/^ws/, "http")}/echo`);
      log.push({ url: ws.url === `${env.ws}/echo` });
      const closed = record(ws);
      await opened(ws);
      ws.close();
      await closed;
      break;
    }
    case "blob-order": {
      const ws = new WS(`${env.ws}/echo`);
      ws.binaryType = "arraybuffer";
      const closed = record(ws);
      await opened(ws);
      ws.send("a");
      ws.send(new Blob(["b", new Uint8Array([1, 2])]));
      ws.send("c");
      ws.send(new Uint8Array([100]).buffer);
      ws.send(new Blob([]));
      log.push({ buffered: ws.bufferedAmount });
      await messages(ws, 5);
      ws.close();
      await closed;
      break;
    }
    case "close-in-message-handler": {
      // Messages that arrive after close() was called are not dispatched (the ready state is not OPEN).
      const ws = new WS(`${env.ws}/send3-close`);
      ws.addEventListener("message", () => ws.close(), { once: true });
      await record(ws);
      break;
    }
    case "conversions": {
      const ws = new WS(`${env.ws}/echo?id=conversions`);
      const closed = record(ws);
      await opened(ws);
      ws.send(null);
      ws.send(123);
      ws.send({});
      ws.send("\uD800 lone \uDC00");
      log.push({ buffered: ws.bufferedAmount });
      await messages(ws, 4);
      attempt("reason of 42 lone surrogates (126 bytes)", () => ws.close(4000, "\uD800".repeat(42)));
      ws.close(4000, "\uD800".repeat(41));
      await closed;
      await serverSaw("conversions");
      break;
    }
    case "payload-lengths": {
      const ws = new WS(`${env.ws}/echo`);
      ws.binaryType = "arraybuffer";
      const closed = record(ws);
      await opened(ws);
      for (const length of [125, 126, 127, 65535, 65536, 65537]) ws.send(bytes(length, length));
      ws.send("x".repeat(126));
      ws.send("é".repeat(32768));
      await messages(ws, 8);
      ws.close();
      await closed;
      break;
    }
    case "close-unanswered": {
      // The server ends TCP without answering the close frame: the closing handshake is incomplete.
      const ws = new WS(`${env.ws}/raw/close-unanswered`);
      const closed = record(ws);
      await opened(ws);
      ws.close(1000, "bye");
      await closed;
      break;
    }
    case "json": {
      const ws = new WS(`${env.ws}/echo`);
      const got: unknown[] = [];
      ws.onopen = () => ws.send(JSON.stringify({ type: "hello", n: [1, 2, 3] }));
      ws.onmessage = (event: any) => {
        got.push(JSON.parse(event.data));
        ws.close();
      };
      await new Promise((resolve) => (ws.onclose = resolve));
      log.push({ got });
      break;
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
  await Promise.all(pending);
  return log;
}

export async function runStreamScenario(WSS: Ctor, name: string, env: ScenarioEnv, tools: ScenarioTools): Promise<unknown[]> {
  const log: unknown[] = [];
  const { attempt, settle, serverSaw, failure } = tools(log, env);
  const describe = (value: unknown): unknown => {
    if (typeof value === "string") return { kind: "string", text: value };
    const kind = Object.prototype.toString.call(value).slice(8, -1);
    const view = value instanceof ArrayBuffer ? new Uint8Array(value) : new Uint8Array((value as Uint8Array).buffer, (value as Uint8Array).byteOffset, (value as Uint8Array).byteLength);
    return { kind, bytes: Array.from(view) };
  };

  switch (name) {
    case "stream-echo": {
      const wss = new WSS(`${env.ws}/echo?id=stream-echo`, { protocols: ["chat"] });
      log.push({ url: wss.url === `${env.ws}/echo?id=stream-echo` });
      const { readable, writable, protocol, extensions } = await wss.opened;
      log.push({ protocol, extensions, readable: readable instanceof ReadableStream, writable: writable instanceof WritableStream });
      const writer = writable.getWriter();
      const reader = readable.getReader();
      await writer.write("text ✓");
      await writer.write(new Uint8Array([1, 2, 3]));
      await writer.write(new Uint16Array([0x0102]).buffer);
      for (let i = 0; i < 3; i++) log.push(describe((await reader.read()).value));
      wss.close({ closeCode: 4000, reason: "bye" });
      log.push(await settle("closed", wss.closed).then((info) => info));
      log.push({ afterClose: await reader.read().then((r: any) => r.done, (e: any) => failure(e)) });
      log.push({ write: await writer.write("late").then(() => "resolved", (e: any) => failure(e)) });
      await serverSaw("stream-echo");
      break;
    }
    case "stream-server-close": {
      const wss = new WSS(`${env.ws}/send3-close`);
      const { readable } = await wss.opened;
      const reader = readable.getReader();
      for (let i = 0; i < 4; i++) {
        const { value, done } = await reader.read();
        log.push(done ? "done" : describe(value));
        if (done) break;
      }
      log.push(await settle("closed", wss.closed));
      break;
    }
    case "stream-refused": {
      const wss = new WSS(`${env.ws}/refuse`);
      await settle("opened", wss.opened);
      await settle("closed", wss.closed);
      break;
    }
    case "stream-abort": {
      const before = new AbortController();
      before.abort();
      const a = new WSS(`${env.ws}/echo`, { signal: before.signal });
      await settle("opened (aborted before)", a.opened);
      await settle("closed (aborted before)", a.closed);
      const during = new AbortController();
      const b = new WSS(`${env.ws}/echo`, { signal: during.signal });
      during.abort();
      await settle("opened (aborted while connecting)", b.opened);
      await settle("closed (aborted while connecting)", b.closed);
      const after = new AbortController();
      const c = new WSS(`${env.ws}/echo`, { signal: after.signal });
      await settle("opened (abort after open)", c.opened);
      after.abort();
      c.close();
      log.push(await settle("closed (abort after open)", c.closed));
      break;
    }
    case "stream-invalid": {
      const url = `${env.ws}/echo`;
      attempt("no arguments", () => new WSS());
      attempt("ftp scheme", () => new WSS("ftp://127.0.0.1/"));
      attempt("fragment", () => new WSS(`${url}#x`));
      attempt("duplicate protocols", () => new WSS(url, { protocols: ["a", "A"] }));
      attempt("protocols as a string", () => new WSS(url, { protocols: "ab" }).close());
      attempt("protocols as a number", () => new WSS(url, { protocols: 5 }).close());
      attempt("signal not an AbortSignal", () => new WSS(url, { signal: { aborted: false, addEventListener() {} } }).close());
      attempt("signal true", () => new WSS(url, { signal: true }).close());
      const wss = new WSS(url);
      await wss.opened;
      attempt("close 999", () => wss.close({ closeCode: 999 }));
      attempt("close 70000", () => wss.close({ closeCode: 70000 }));
      attempt("close NaN", () => wss.close({ closeCode: NaN }));
      attempt("close 124-byte reason", () => wss.close({ closeCode: 1000, reason: "x".repeat(124) }));
      attempt("WebSocketError 1001", () => new (globalThis as any).WebSocketError("m", { closeCode: 1001 }));
      const error = new (globalThis as any).WebSocketError("m", { reason: "only a reason" });
      log.push({ webSocketError: [error.name, error.message, error.closeCode, error.reason, error instanceof DOMException] });
      wss.close();
      log.push(await settle("closed", wss.closed));
      break;
    }
    case "stream-drop": {
      const wss = new WSS(`${env.ws}/drop`);
      const { readable, writable } = await wss.opened;
      const writer = writable.getWriter();
      await writer.write("drop me");
      log.push({ read: await readable.getReader().read().then(() => "value", (e: any) => failure(e)) });
      await settle("closed", wss.closed);
      break;
    }
    case "stream-writer-close": {
      const wss = new WSS(`${env.ws}/echo?id=stream-writer-close`);
      const { writable } = await wss.opened;
      await writable.getWriter().close();
      log.push(await settle("closed", wss.closed));
      await serverSaw("stream-writer-close");
      break;
    }
    case "stream-cancel-with-error": {
      const wss = new WSS(`${env.ws}/echo?id=stream-cancel`);
      const { readable } = await wss.opened;
      await readable.cancel(new (globalThis as any).WebSocketError("stop", { closeCode: 4005, reason: "cancelled" }));
      log.push(await settle("closed", wss.closed));
      await serverSaw("stream-cancel");
      break;
    }
    case "stream-close-while-connecting": {
      const wss = new WSS(`${env.ws}/echo`);
      wss.close();
      await settle("opened", wss.opened);
      await settle("closed", wss.closed);
      break;
    }
    case "stream-close-arguments": {
      const a = new WSS(`${env.ws}/echo?id=stream-reason-only`);
      await a.opened;
      attempt("close(true)", () => a.close(true));
      attempt("close('x')", () => a.close("x"));
      a.close({ reason: "only a reason" });
      log.push(await settle("closed (reason only)", a.closed));
      await serverSaw("stream-reason-only");
      const b = new WSS(`${env.ws}/echo?id=stream-abort-object`);
      const { writable } = await b.opened;
      await writable.abort({ closeCode: 3456, reason: "ignored" });
      log.push(await settle("closed (abort with a plain object)", b.closed));
      await serverSaw("stream-abort-object");
      const c = new WSS(`${env.ws}/echo?id=stream-null`);
      await c.opened;
      c.close(null);
      log.push(await settle("closed (null)", c.closed));
      await serverSaw("stream-null");
      break;
    }
    case "stream-close-unanswered": {
      const wss = new WSS(`${env.ws}/raw/close-unanswered`);
      const { readable } = await wss.opened;
      const reader = readable.getReader();
      wss.close({ closeCode: 1000, reason: "bye" });
      log.push(await settle("closed", wss.closed));
      log.push({ read: await reader.read().then((r: any) => (r.done ? "done" : "value"), (e: any) => failure(e)) });
      break;
    }
    default:
      throw new Error(`unknown scenario ${name}`);
  }
  return log;
}
