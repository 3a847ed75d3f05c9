/** The client: connect() and its options. */
export { checkConnectOptions, connect, type ConnectOptions } from "./connect.js";
