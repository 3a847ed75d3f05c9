/**
 * The HANDSHAKE phase: write the upgrade request on a ready socket and read
 * the server's response head. What the head means (101, a redirect, a
 * refusal) is decided by the caller; the socket is left paused with any
 * bytes after the head in `rest`.
 */
import type { Socket } from "node:net";
import { HandshakeError, HttpHeadParser, type HttpHead, type HttpLimits } from "../core/index.js";

export interface HandshakeResponse {
  head: HttpHead;
  /** Bytes that came after the head: the first frames. */
  rest: Uint8Array;
}

export function exchangeHandshake(socket: Socket, request: Uint8Array, limits: HttpLimits, where: string): Promise<HandshakeResponse> {
  const parser = new HttpHeadParser("response", limits);
  return new Promise((resolve, reject) => {
    const done = (): void => {
      socket.removeListener("data", onData);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
    };
    const onData = (chunk: Buffer): void => {
      let result: HandshakeResponse | null;
      try {
        result = parser.push(chunk);
      } catch (error) {
        done();
        return reject(error);
      }
      if (result === null) return;
      done();
      // Frames may follow at once: the socket waits, paused, until the connection takes it.
      socket.pause();
      resolve(result);
    };
    const onError = (error: Error): void => {
      done();
      const code = (error as NodeJS.ErrnoException).code;
      reject(new HandshakeError("CONNECTION_CLOSED", `${where} failed during the handshake: ${code ?? error.message}`, 0));
    };
    const onClose = (): void => {
      done();
      reject(new HandshakeError("CONNECTION_CLOSED", `${where} closed the connection during the handshake`, 0));
    };
    socket.on("data", onData);
    socket.once("error", onError);
    socket.once("close", onClose);
    socket.write(request);
    socket.resume();
  });
}
