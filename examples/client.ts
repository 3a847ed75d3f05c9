/**
 * A tiny client for trying a server: sends each argument as a text message
 * and prints what comes back.
 *   node dist/examples/client.js ws://127.0.0.1:8080 hello world
 */
import { connect } from "../src/index.js";

const [url = "ws://127.0.0.1:8080", ...messages] = process.argv.slice(2);
const ws = await connect(url, { timeout: 5000 });
console.log(`connected to ${url}${ws.protocol ? ` (${ws.protocol})` : ""}`);
for (const text of messages.length > 0 ? messages : ["hello from wsx"]) {
  await ws.send(text);
  const reply = await ws.receive({ timeout: 5000 });
  console.log(`< ${reply.type === "text" ? reply.text : `<${reply.bytes.length} bytes>`}`);
}
const { code } = await ws.close(1000, "bye");
console.log(`closed (${code})`);
