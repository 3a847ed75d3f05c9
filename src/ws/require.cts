/**
 * `require("wsx/ws")` (or `require("ws")` aliased to it): the WebSocket
 * class with WebSocketServer, Server and createWebSocketStream on it, as
 * `require("ws")` gives. Node 20.19+ loads the ES module synchronously.
 */
declare const require: (id: string) => { default: unknown };
module.exports = require("./index.js").default;
