/** The server: listen or attach with handleUpgrade, admission, pending handshakes, shutdown, topics. */
export {
  WebSocketServer,
  serve,
  type AuthResult,
  type ConnectionHandler,
  type Rejection,
  type ServerOptions,
  type ServerRequest,
  type UpgradeCallbacks,
  type WebSocketServerEvents,
} from "./server.js";
export { type PublishOptions } from "./server.js";
export { type AdapterHub, type PubSubAdapter } from "./adapter.js";
export type { OriginPolicy } from "./admission.js";
export type { ShutdownOptions } from "./shutdown.js";
