/**
 * A child process holding many raw WebSocket clients, so that a test can
 * have more connections than one process's file descriptors allow for both
 * ends. `node swarm.js <port> <count> <bytesEach>`: opens `count` sockets to
 * 127.0.0.1:<port>, completes each handshake, prints "ready", then counts
 * the bytes that follow the 101 answer on every socket and prints
 * "done <sockets that got exactly bytesEach>" once all have, or after 20 s.
 * Stops when stdin closes.
 */
import { connect, type Socket } from "node:net";

const [port, count, bytesEach] = process.argv.slice(2).map(Number) as [number, number, number];
const request =
  "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

const received = new Array<number>(count).fill(-1); // -1 until the 101 answer is in
const sockets: Socket[] = [];
let upgraded = 0;
let complete = 0;

function open(index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let head = "";
    const socket = connect(port, "127.0.0.1", () => socket.write(request));
    sockets.push(socket);
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      if (received[index]! < 0) {
        head += chunk.toString("latin1");
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        if (!head.startsWith("HTTP/1.1 101")) return reject(new Error(head.split("\r\n")[0]));
        received[index] = head.length - end - 4;
        upgraded++;
        resolve();
      } else {
        received[index]! += chunk.length;
      }
      if (received[index] === bytesEach && ++complete === count) report();
    });
  });
}

let reported = false;
function report(): void {
  if (reported) return;
  reported = true;
  process.stdout.write(`done ${received.filter((n) => n === bytesEach).length}\n`);
}

// Open in bounded waves so the server's accept queue is not flooded.
for (let start = 0; start < count; start += 500) {
  const wave: Array<Promise<void>> = [];
  for (let i = start; i < Math.min(count, start + 500); i++) wave.push(open(i));
  await Promise.all(wave);
}
process.stdout.write(`ready ${upgraded}\n`);
setTimeout(report, 20_000).unref();
process.stdin.on("end", () => {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
process.stdin.resume();
