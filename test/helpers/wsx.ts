/**
 * wsx-specific test helpers: the TLS fixtures, a server started in any of
 * the four ways wsx can serve (standalone ws/wss, attached to node:http or
 * node:https), and a queue of the connections a server accepted.
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import {
  WebSocketServer,
  connect,
  serve,
  type ConnectOptions,
  type ConnectionHandler,
  type ServerOptions,
  type ServerRequest,
  type WebSocket,
} from "../../src/index.js";
import { DeadlineError, LOOPBACK, deadline, type RawClientOptions } from "./net.js";

/** The localhost / 127.0.0.1 / ::1 key and self-signed certificate of test/fixtures. */
export const fixtures = {
  key: readFileSync(new URL("../../../test/fixtures/key.pem", import.meta.url)),
  cert: readFileSync(new URL("../../../test/fixtures/cert.pem", import.meta.url)),
};

/** How a test server is run: standalone over TCP or TLS, or attached to node:http / node:https. */
export type Mode = "standalone" | "tls" | "http" | "https";
export const MODES: readonly Mode[] = ["standalone", "tls", "http", "https"];

export interface TestServer {
  mode: Mode;
  wss: WebSocketServer;
  port: number;
  secure: boolean;
  /** The node:http(s) server in the attached modes. */
  http: HttpServer | undefined;
  /** ws:// or wss:// URL of `path` on this server. */
  url(path?: string): string;
  /** What `connect()` needs to reach this server (the CA for TLS). */
  clientOptions: ConnectOptions;
  /** What RawClient.connect needs to reach this server. */
  rawOptions: RawClientOptions;
  close(): Promise<void>;
}

/** Start a wsx server on 127.0.0.1 with a free port, in the given mode. */
export async function startServer(mode: Mode, options: ServerOptions = {}, handler?: ConnectionHandler): Promise<TestServer> {
  const secure = mode === "tls" || mode === "https";
  const clientOptions: ConnectOptions = secure ? { tls: { ca: fixtures.cert } } : {};
  const rawOptions: RawClientOptions = secure ? { tls: { ca: fixtures.cert } } : {};
  let wss: WebSocketServer;
  let http: HttpServer | undefined;
  let port: number;
  if (mode === "standalone" || mode === "tls") {
    wss = await serve({ ...options, port: 0, host: LOOPBACK, ...(mode === "tls" ? { tls: { ...fixtures, ...options.tls } } : {}) }, handler);
    port = wss.port;
  } else {
    wss = new WebSocketServer(options, handler);
    const onRequest = (_: unknown, response: import("node:http").ServerResponse): void => {
      response.writeHead(200, { "Content-Type": "text/plain" }).end("plain http\n");
    };
    const server = mode === "https" ? createHttpsServer({ ...fixtures }, onRequest) : createHttpServer(onRequest);
    server.on("upgrade", wss.handleUpgrade);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, LOOPBACK, () => resolve());
    });
    http = server;
    port = (server.address() as AddressInfo).port;
  }
  return {
    mode,
    wss,
    port,
    secure,
    http,
    url: (path = "/") => `${secure ? "wss" : "ws"}://${LOOPBACK}:${port}${path}`,
    clientOptions,
    rawOptions,
    close: async () => {
      await wss.close();
      if (http !== undefined) {
        const server = http;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

/** Start a server in `mode`, run `body` with it and the connections it accepts, and close it whatever happens. */
export async function withServer(
  mode: Mode,
  options: ServerOptions,
  body: (server: TestServer, accepted: Accepted) => Promise<void>,
  handler?: ConnectionHandler,
): Promise<void> {
  const server = await startServer(mode, options, handler);
  try {
    await body(server, new Accepted(server.wss));
  } finally {
    await deadline(server.close(), 5000, "server.close()");
  }
}

/** The connections a server accepted, in order, for tests to pick up. */
export class Accepted {
  private items: Array<{ ws: WebSocket; request: ServerRequest }> = [];
  private waiters: Array<(item: { ws: WebSocket; request: ServerRequest }) => void> = [];
  count = 0;

  constructor(wss: WebSocketServer) {
    wss.on("connection", (ws, request) => {
      this.count++;
      const item = { ws, request };
      const waiter = this.waiters.shift();
      if (waiter !== undefined) waiter(item);
      else this.items.push(item);
    });
  }

  /** The next accepted connection (waits up to `ms`). */
  next(ms = 3000): Promise<{ ws: WebSocket; request: ServerRequest }> {
    const item = this.items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return deadline(new Promise((resolve) => this.waiters.push(resolve)), ms, "server connection");
  }
}

/** Rejects with the value the promise rejected with, failing when it resolves. */
export async function rejection(promise: Promise<unknown>, ms = 3000): Promise<Error> {
  try {
    await deadline(promise, ms, "expected rejection");
  } catch (error) {
    if (error instanceof DeadlineError) throw error;
    return error as Error;
  }
  throw new Error("expected the promise to reject, but it resolved");
}

export interface Pair {
  client: WebSocket;
  peer: WebSocket;
  server: TestServer;
}

/**
 * A wsx server with `server` options, one wsx client connected to it with
 * `client` options, and the server's side of that connection. Everything is
 * torn down afterwards.
 */
export async function withPair(
  options: { server?: ServerOptions; client?: ConnectOptions; handler?: ConnectionHandler },
  body: (pair: Pair) => Promise<void>,
): Promise<void> {
  const server = await startServer("standalone", { closeTimeout: 1000, ...options.server }, options.handler);
  try {
    const accepted = new Accepted(server.wss);
    const client = await connect(server.url("/"), { closeTimeout: 1000, ...options.client });
    try {
      const { ws: peer } = await accepted.next();
      await body({ client, peer, server });
    } finally {
      client.terminate();
    }
  } finally {
    await deadline(server.close(), 5000, "server.close()");
  }
}
