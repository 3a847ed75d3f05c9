/**
 * wsx/web: the browser's `WebSocket` and `WebSocketStream`, exactly as the
 * WHATWG standard defines them, on wsx's client. Code written for browsers
 * or for Node's global WebSocket runs unchanged, with wsx's compression,
 * limits and TLS options available as a third constructor argument.
 */
export { WebSocket, type BinaryType, type WebSocketOptions } from "./websocket.js";
export {
  WebSocketStream,
  WebSocketError,
  type WebSocketCloseInfo,
  type WebSocketOpenInfo,
  type WebSocketStreamChunk,
  type WebSocketStreamOptions,
} from "./stream.js";
export { CloseEvent, type CloseEventInit, type EventHandler } from "./events.js";
export type { BufferSource } from "./data.js";
