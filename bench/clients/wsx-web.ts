/**
 * wsx/web client under test (the WHATWG WebSocket on wsx), same traffic as
 * clients/wsx.ts: what an application written against the browser API pays
 * over wsx's own API. Binary messages arrive as ArrayBuffer, as a page
 * that sets `binaryType = "arraybuffer"` gets them.
 */
import { WebSocket } from "../../src/web/index.js";
import { serveStandardClient } from "./standard.js";

serveStandardClient(WebSocket);
