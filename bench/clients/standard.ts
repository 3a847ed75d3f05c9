/**
 * The echo traffic of the client benchmark on any WHATWG WebSocket
 * constructor: `connections` sockets, each keeping `window` messages in
 * flight, one new send per message received (binaryType "arraybuffer").
 */

/** The part of the standard WebSocket constructor the benchmark uses. */
export type StandardWebSocket = new (url: string) => {
  binaryType: string;
  // Each implementation types its handlers with its own Event classes.
  onopen: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  onerror: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  onmessage: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  send(data: Uint8Array): void;
};

export async function openStandard(
  WebSocket: StandardWebSocket,
  url: string,
  connections: number,
  window: number,
  payload: Uint8Array,
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
