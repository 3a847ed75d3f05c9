/** The client: connect() and its options. */
export { connect, type ConnectOptions } from "./connect.js";
