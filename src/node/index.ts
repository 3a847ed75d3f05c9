export { connect, type ConnectOptions } from "./client.js";
export {
  WebSocket,
  type CloseInfo,
  type ConnectionOptions,
  type SendData,
  type SendOptions,
  type WebSocketEvents,
} from "./connection.js";
export { WebSocketReader, WebSocketWriter } from "./halves.js";
export {
  WebSocketServer,
  serve,
  type AuthResult,
  type ConnectionHandler,
  type Rejection,
  type ServerOptions,
  type ServerRequest,
  type WebSocketServerEvents,
} from "./server.js";
export { type PublishOptions } from "./server.js";
export { type AdapterHub, type PubSubAdapter } from "./adapter.js";
export { DEFAULT_MAX_BACKPRESSURE, type BackpressureOptions, type BackpressurePolicy } from "./backpressure.js";
export { type ConnectionStats, type ServerStats } from "./stats.js";
export { type Logger } from "./logger.js";
export type { OriginPolicy } from "./admission.js";
export type { ShutdownOptions } from "./shutdown.js";
