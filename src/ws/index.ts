/**
 * `wsx/ws`: the `ws` package's API (version 8) on wsx's connection, client
 * and server. Code written for `ws` runs by changing its import, or by
 * aliasing `ws` to this entry point; the few deliberate differences are in
 * docs/ws-migration.md.
 *
 * @module wsx/ws
 *
 * @example
 * ```ts
 * import WebSocket, { WebSocketServer } from "wsx/ws";
 *
 * const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" }, () => {
 *   const { port } = wss.address() as { port: number };
 *   const ws = new WebSocket(`ws://127.0.0.1:${port}`);
 *   ws.on("open", () => ws.send("hello"));
 * });
 * wss.on("connection", (ws) => ws.on("message", (data) => ws.send(data)));
 * ```
 */
import { createWebSocketStream } from "./stream.js";
import { WebSocketServer } from "./server.js";
import { WebSocket } from "./websocket.js";

export { WebSocket, HandshakeRequest, type BinaryType, type Data, type RawData, type SendCallback, type SendOptions, type WebSocketEventMap } from "./websocket.js";
export {
  WebSocketServer,
  type ServerOptions,
  type UpgradeCallback,
  type VerifyClientCallbackAsync,
  type VerifyClientCallbackSync,
  type VerifyClientInfo,
  type WebSocketServerEventMap,
} from "./server.js";
export { createWebSocketStream } from "./stream.js";
export { CloseEvent, ErrorEvent, Event, MessageEvent, type EventListenerLike } from "./events.js";
export type { ClientOptions, PerMessageDeflateOptions, SharedOptions } from "./options.js";
/** `ws`'s older name of the server class. */
export { WebSocketServer as Server };

/** The type of the default export: the WebSocket class with the other classes and `createWebSocketStream` as its properties. */
export type WsModule = typeof WebSocket & {
  WebSocket: typeof WebSocket;
  WebSocketServer: typeof WebSocketServer;
  Server: typeof WebSocketServer;
  createWebSocketStream: typeof createWebSocketStream;
};

/** The default export: the WebSocket class carrying the rest, as `require("ws")` gives it. */
const ws = WebSocket as WsModule;
ws.WebSocket = WebSocket;
ws.WebSocketServer = WebSocketServer;
ws.Server = WebSocketServer;
ws.createWebSocketStream = createWebSocketStream;

export default ws;
