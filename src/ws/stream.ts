/**
 * `ws`'s createWebSocketStream: a WebSocket as a Duplex stream. Messages
 * become readable chunks (text as strings in object mode), writes become
 * messages; reading waits (the WebSocket is paused) while the readable side
 * is full, and ending the writable side closes the WebSocket.
 */
import { Duplex, type DuplexOptions } from "node:stream";
import type { RawData, WebSocket } from "./websocket.js";

/**
 * Wrap `ws` in a Duplex. Errors of the WebSocket destroy the stream;
 * destroying the stream terminates the WebSocket.
 *
 * @example
 * ```ts
 * import { once } from "node:events";
 * import { WebSocket, createWebSocketStream } from "wsx/ws";
 *
 * const ws = new WebSocket("ws://127.0.0.1:8080"); // an echo server
 * const duplex = createWebSocketStream(ws, { encoding: "utf8" });
 * duplex.write("hello"); // written once the connection is open
 * const [echoed] = await once(duplex, "data");
 * console.log(echoed); // "hello"
 * duplex.end();
 * ```
 */
export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  // An error already closes the WebSocket: destroying the stream then must not cut the close frame short.
  let terminateOnDestroy = true;
  const duplex = new Duplex({ ...options, autoDestroy: false, emitClose: false, objectMode: false, writableObjectMode: false });

  ws.on("message", (data: RawData, isBinary: boolean) => {
    const chunk = !isBinary && duplex.readableObjectMode ? String(data) : data;
    if (!duplex.push(chunk)) ws.pause();
  });
  ws.once("error", (error: Error) => {
    if (duplex.destroyed) return;
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  ws.once("close", () => {
    if (!duplex.destroyed) duplex.push(null);
  });

  duplex._destroy = (error, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(error);
      process.nextTick(() => duplex.emit("close"));
      return;
    }
    let called = false;
    ws.once("error", (wsError: Error) => {
      called = true;
      callback(wsError);
    });
    ws.once("close", () => {
      if (!called) callback(error);
      process.nextTick(() => duplex.emit("close"));
    });
    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once("open", () => duplex._final(callback));
      return;
    }
    if (ws.readyState === ws.CLOSED) {
      callback();
      return;
    }
    // The writable side is finished once the close handshake is over; the readable side ends with "close".
    ws.once("close", () => {
      callback();
      if (duplex.readableEnded) duplex.destroy();
    });
    ws.close();
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk: unknown, _encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once("open", () => duplex._write(chunk, _encoding, callback));
      return;
    }
    ws.send(chunk as Buffer, callback);
  };

  duplex.on("end", function (this: Duplex) {
    if (!this.destroyed && this.writableFinished) this.destroy();
  });
  duplex.on("error", function onError(this: Duplex, error: Error) {
    this.removeListener("error", onError);
    this.destroy();
    if (this.listenerCount("error") === 0) this.emit("error", error);
  });
  return duplex;
}
