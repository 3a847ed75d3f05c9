/**
 * wsx/core: the sans-IO WebSocket protocol. No sockets, timers or `node:`
 * modules; bytes in, events and bytes out, in any JavaScript runtime.
 */
export * from "./errors.js";
export * from "./limits.js";
export * from "./options.js";
export * from "./mask.js";
export * from "./utf8.js";
export * from "./close.js";
export * from "./frame.js";
export * from "./message.js";
export * from "./writer.js";
export * from "./protocol.js";
export { OutgoingMessage } from "./outgoing.js";
export * from "./base64.js";
export * from "./sha1.js";
export * from "./http.js";
export * from "./handshake.js";
export * from "./extension.js";
