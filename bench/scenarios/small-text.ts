/** `small-text`: as small-binary with text messages (the server checks UTF-8). */
import { echoScenario } from "../lib/echo.js";

export default echoScenario("small-text", { connections: 100, window: 64, size: 32, text: true, perMiB: false }, [
  { a: "wsx", b: "ws", targets: { cpuPerUnit: 0.1 } },
]);
