/** `small-binary`: 100 connections × 64 in flight, 32-byte binary echo; server CPU µs per message. */
import { echoScenario } from "../lib/echo.js";

export default echoScenario(
  "small-binary",
  { connections: 100, window: 64, size: 32, text: false, perMiB: false },
  [{ a: "wsx", b: "ws", targets: { cpuPerUnit: 0.1 } }],
  // The async iterator's cost per message shows here.
  { iter: true },
);
