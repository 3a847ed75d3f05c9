/**
 * Seed 000 (the Xous OS WebSocket client service): a client configured by
 * host, port, path, optional basic-auth username/password, TLS on/off and a
 * requested sub-protocol. Every inbound frame goes to a callback with its
 * opcode (the seed forwards them to a `cid` + `opcode`). It sends bytes
 * ("test message") and closes when asked to.
 *
 * Run (after `npx tsc -p tsconfig.json`):
 *   node dist/examples/seeds/xous-client.js                 # starts its own local servers
 *   node dist/examples/seeds/xous-client.js ws://user:pass@host:port/test
 *   WSX_URL=wss://host/test node dist/examples/seeds/xous-client.js
 *
 * Without a URL it starts a local server on 127.0.0.1 (port 0) that checks
 * the Authorization header and selects the "test" sub-protocol, then runs
 * the client once over ws:// and once over wss:// (test/fixtures certificate).
 * A local run also shows the server refusing a wrong password with 401.
 * Exits 0 on success, 1 on failure.
 */
import { readFileSync } from "node:fs";
import { CloseCode, HandshakeError, Opcode, connect, serve, type CloseInfo, type WebSocket } from "../../src/index.js";

const DEADLINE_MS = 15_000;
setTimeout(() => {
  console.error(`FAILED: still running after ${DEADLINE_MS} ms`);
  process.exit(1);
}, DEADLINE_MS).unref();

/** The seed's constructor arguments, minus the Xous plumbing (cid, RNG). */
interface XousWebsocketConfig {
  host: string;
  /** Omit for the scheme's default port. */
  port?: number;
  /** Path (and query) of the endpoint; default "/". */
  path?: string;
  username?: string;
  password?: string;
  /** wss:// when true, ws:// otherwise. */
  tls: boolean;
  /** Sub-protocol to request; the seed's codec could not negotiate one, wsx can. */
  subProtocol?: string;
  /** Inbound frames are forwarded here with their opcode, as the seed does to its callback. */
  onFrame: (opcode: number, payload: Uint8Array, fin: boolean) => void;
  /** Trusted CA for wss (the seed ships the Mozilla roots; Node has its own by default). */
  ca?: string | Buffer;
}

const OPCODE_NAMES: Record<number, string> = {
  [Opcode.CONTINUATION]: "Continuation",
  [Opcode.TEXT]: "Text",
  [Opcode.BINARY]: "Binary",
  [Opcode.CLOSE]: "Close",
  [Opcode.PING]: "Ping",
  [Opcode.PONG]: "Pong",
};

/** The seed's `Websocket` service: open, forward inbound frames, send bytes, close. */
class XousWebsocket {
  private ws: WebSocket | null = null;
  private pump: Promise<void> = Promise.resolve();

  constructor(private readonly config: XousWebsocketConfig) {}

  /** The sub-protocol the server selected, or null. */
  get protocol(): string | null {
    return this.ws?.protocol ?? null;
  }

  /** Connect, then forward every inbound frame until the connection ends. */
  async start(): Promise<void> {
    const { host, port, path = "/", username, password, tls, subProtocol, ca } = this.config;
    const hostPart = host.includes(":") ? `[${host}]` : host;
    const url = `${tls ? "wss" : "ws"}://${hostPart}${port === undefined ? "" : `:${port}`}${path}`;
    const ws = await connect(url, {
      protocols: subProtocol === undefined ? [] : [subProtocol],
      auth: username === undefined ? undefined : { username, password: password ?? "" },
      tls: ca === undefined ? undefined : { ca },
      timeout: 5000,
      // Every frame as received from the first on (data fragments, ping, pong and close), even
      // those that arrive with the 101 response, before frames() below is called.
      deliver: "frames",
    });
    this.ws = ws;
    this.pump = (async () => {
      for await (const frame of ws.frames()) this.config.onFrame(frame.opcode, frame.payload, frame.fin);
    })();
  }

  /** The seed's `Opcode::Send`: the bytes go out as one binary message. */
  async send(bytes: Uint8Array): Promise<void> {
    await this.open().send(bytes);
  }

  /** The seed's `Opcode::Close`: close handshake, then wait for the frame pump to finish. */
  async close(): Promise<CloseInfo> {
    const info = await this.open().close(CloseCode.NORMAL, "close requested");
    await this.pump;
    return info;
  }

  private open(): WebSocket {
    if (this.ws === null) throw new Error("websocket not started");
    return this.ws;
  }
}

/** A promise with its resolve function, for waiting on the callback. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const decoder = new TextDecoder();

/** One session as in the seed's example: start, send "test message", receive, close. */
async function session(config: Omit<XousWebsocketConfig, "onFrame">, expectLocal: boolean): Promise<void> {
  const inbound = deferred<Uint8Array>();
  const opcodes: number[] = [];
  const websocket = new XousWebsocket({
    ...config,
    onFrame: (opcode, payload, fin) => {
      opcodes.push(opcode);
      const text = opcode === Opcode.CLOSE ? "" : ` "${decoder.decode(payload)}"`;
      console.log(`callback: opcode ${opcode} (${OPCODE_NAMES[opcode] ?? "?"}) fin=${fin} ${payload.length} bytes${text}`);
      if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) inbound.resolve(payload);
    },
  });
  await websocket.start();
  console.log(`client: connected over ${config.tls ? "TLS (wss)" : "plain TCP (ws)"}, sub-protocol ${websocket.protocol ?? "(none)"}`);
  if (expectLocal && websocket.protocol !== "test") throw new Error(`expected sub-protocol "test", got ${websocket.protocol}`);

  const outbound = new TextEncoder().encode("test message");
  await websocket.send(outbound);
  console.log(`client: sent ${outbound.length} bytes "test message"`);

  // No timer of its own: a reply that never comes is caught by the program's deadline.
  const reply = decoder.decode(await inbound.promise);
  console.log(`client: inbound "${reply}"`);
  if (reply !== "test message") throw new Error(`unexpected reply "${reply}"`);

  const info = await websocket.close();
  console.log(`client: closed (code ${info.code}, clean ${info.wasClean})`);
  if (!info.wasClean) throw new Error("close handshake did not complete");
  if (expectLocal) {
    for (const opcode of [Opcode.PING, Opcode.BINARY, Opcode.CLOSE]) {
      if (!opcodes.includes(opcode)) throw new Error(`callback never saw opcode ${opcode}`);
    }
  }
}

const USER = "xous";
const PASSWORD = "secret";

/** Local server: checks basic auth, selects "test", pings, then echoes. */
async function runLocal(tls: boolean): Promise<void> {
  const fixtures = new URL("../../../test/fixtures/", import.meta.url);
  const cert = readFileSync(new URL("cert.pem", fixtures));
  const key = readFileSync(new URL("key.pem", fixtures));
  const expected = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
  const server = await serve(
    {
      host: "127.0.0.1",
      port: 0,
      path: "/test",
      tls: tls ? { cert, key } : undefined,
      protocols: ["test"],
      authenticate: (request) => {
        const ok = request.headers["authorization"] === expected;
        console.log(`server: Authorization header ${ok ? "accepted" : "refused (401)"}`);
        return ok;
      },
    },
    async (ws) => {
      console.log(`server: selected sub-protocol ${ws.protocol}`);
      // At once: the client delivers frames from its first, so this one reaches its callback.
      await ws.ping("keepalive");
      for await (const message of ws) await ws.send(message);
    },
  );
  try {
    const base = { host: "127.0.0.1", port: server.port, path: "/test", tls, subProtocol: "test", ca: tls ? cert : undefined };
    if (!tls) {
      try {
        await new XousWebsocket({ ...base, username: USER, password: "wrong", onFrame: () => {} }).start();
        throw new Error("a wrong password was accepted");
      } catch (error) {
        if (!(error instanceof HandshakeError) || error.status !== 401) throw error;
        console.log(`client: wrong password refused with HTTP ${error.status}`);
      }
    }
    await session({ ...base, username: USER, password: PASSWORD }, true);
  } finally {
    await server.close();
  }
}

/** A server given on the command line: host, port, path, credentials and TLS come from the URL. */
async function runRemote(target: string): Promise<void> {
  const url = new URL(target);
  const tls = url.protocol === "wss:";
  if (!tls && url.protocol !== "ws:") throw new Error(`expected a ws:// or wss:// URL, got ${target}`);
  await session(
    {
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port === "" ? undefined : Number(url.port),
      path: `${url.pathname}${url.search}`,
      username: url.username === "" ? undefined : decodeURIComponent(url.username),
      password: url.password === "" ? undefined : decodeURIComponent(url.password),
      tls,
      subProtocol: "test",
    },
    false,
  );
}

try {
  const target = process.argv[2] ?? process.env["WSX_URL"];
  if (target) {
    await runRemote(target);
  } else {
    await runLocal(false);
    await runLocal(true);
  }
  console.log("xous-client: OK");
} catch (error) {
  console.error("FAILED:", error);
  process.exit(1);
}
