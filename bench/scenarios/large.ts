/** `large`: 4 connections × 2 in flight, 1 MiB binary echo; server CPU µs per MiB echoed (target: at or below Bun). */
import { echoScenario } from "../lib/echo.js";
import { MiB } from "../lib/measure.js";

export default echoScenario("large", { connections: 4, window: 2, size: MiB, text: false, perMiB: true }, [
  { a: "wsx", b: "ws", targets: { cpuPerUnit: 0.35 } },
  { a: "wsx", b: "bun", targets: { cpuPerUnit: 1.0 } },
]);
