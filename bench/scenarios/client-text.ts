/**
 * `client-text`: the client scenario with 32-character text messages, what
 * pages mostly exchange (JSON): no ArrayBuffer per message for wsx/web.
 */
import { clientScenario } from "./client.js";

export default clientScenario("client-text", { connections: 10, window: 64, size: 32, perMiB: false, text: true });
