/**
 * Node's WebSocket (undici's; the global one from Node 22, the `undici`
 * package on Node 20), same traffic as clients/wsx-web.ts.
 */
import { WebSocket as UndiciWebSocket } from "undici";
import { serveStandardClient, type StandardWebSocket } from "./standard.js";

serveStandardClient(((globalThis as { WebSocket?: unknown }).WebSocket ?? UndiciWebSocket) as StandardWebSocket);
