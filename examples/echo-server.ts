/**
 * The quick-start demo: an echo server. Every message comes back with the
 * same type (text stays text). `npm start`, or `PORT=9000 npm start`.
 */
import { serve } from "../src/index.js";

const port = Number(process.env["PORT"] ?? 8080);
const host = process.env["HOST"] ?? "127.0.0.1";

const server = await serve({ port, host }, async (ws, request) => {
  console.log(`+ ${request.remoteAddress} ${request.path}`);
  for await (const message of ws) await ws.send(message);
  const { code } = await ws.closed;
  console.log(`- ${request.remoteAddress} closed (${code})`);
});

console.log(`wsx echo server on ws://${host}:${server.port}`);
console.log(`talk to it from another terminal: node dist/examples/client.js ws://${host}:${server.port} hello`);

const stop = async (): Promise<void> => {
  await server.close();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
