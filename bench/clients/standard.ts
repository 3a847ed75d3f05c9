/**
 * The echo traffic of the client benchmark on any WHATWG WebSocket
 * constructor: `connections` sockets, each keeping `window` messages in
 * flight, one new send per message received (binaryType "arraybuffer";
 * text messages when the run asks for them, which arrive decoded).
 */
import { serveEchoClient } from "../lib/control.js";

/** The part of the standard WebSocket constructor the benchmark uses. */
export type StandardWebSocket = new (url: string) => {
  binaryType: string;
  // Each implementation types its handlers with its own Event classes.
  onopen: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  onerror: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  onmessage: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  send(data: string | Uint8Array): void;
};

async function openStandard(
  WebSocket: StandardWebSocket,
  url: string,
  connections: number,
  window: number,
  payload: string | Uint8Array,
  received: () => void,
): Promise<number> {
  const sockets = [];
  for (let c = 0; c < connections; c++) {
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
    sockets.push(ws);
  }
  for (const ws of sockets) {
    ws.onerror = null;
    ws.onmessage = () => {
      received();
      ws.send(payload);
    };
    for (let k = 0; k < window; k++) ws.send(payload);
  }
  return sockets.length;
}

/** Run a client process of the benchmark on `WebSocket`: `run` opens the connections, `mark` reports the echo count. */
export function serveStandardClient(WebSocket: StandardWebSocket): void {
  serveEchoClient(({ url, connections, window, size, text }, received) => {
    const payload = text ? "a".repeat(size) : new Uint8Array(size).fill(0x61);
    return openStandard(WebSocket, url, connections, window, payload, received);
  });
}
