/** `client-large`: the client libraries receiving 1 MiB binary echoes, 4 connections × 2 in flight; client CPU µs per MiB received. */
import { clientScenario } from "./client.js";
import { MiB } from "../lib/measure.js";

export default clientScenario("client-large", { connections: 4, window: 2, size: MiB, perMiB: true });
