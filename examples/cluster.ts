/**
 * Every core of one machine: node:cluster forks one worker per CPU, each
 * runs a wsx server on the same port (the primary hands out the
 * connections), and the Redis adapter (`wsx/redis`) carries each worker's
 * publishes to the others. A tiny chat: every text a client sends is
 * published to the topic "chat", which every client subscribes to, whichever
 * worker it landed on.
 *
 *   redis-server --port 6379 &            # any Redis
 *   npm run build && node dist/examples/cluster.js
 *   # then connect a few clients (each may land on another worker), e.g.
 *   # `npx wsx connect ws://127.0.0.1:8080`, and type: every client sees every
 *   # line, tagged with the worker it was published on. Or send one line:
 *   npx wsx connect -x hello ws://127.0.0.1:8080
 *
 * Settings (environment): PORT (default 8080, 0 for any), HOST (127.0.0.1),
 * REDIS_URL (redis://127.0.0.1:6379), WSX_WORKERS (default: one per CPU).
 * WSX_CLUSTER_CHECK=1 makes the primary check the whole path itself (a
 * client on one worker publishes, a client on another worker receives),
 * print "cluster example: OK" and stop.
 */
import cluster from "node:cluster";
import { availableParallelism } from "node:os";
import { connect, serve, type WebSocket } from "../src/index.js";
import { redisAdapter } from "../src/redis/index.js";

const port = Number(process.env["PORT"] ?? 8080);
const host = process.env["HOST"] ?? "127.0.0.1";
const redisUrl = process.env["REDIS_URL"] ?? "redis://127.0.0.1:6379";
const workerCount = Number(process.env["WSX_WORKERS"] ?? availableParallelism());
const selfCheck = process.env["WSX_CLUSTER_CHECK"] === "1";
if (!Number.isInteger(workerCount) || workerCount < 1) throw new Error(`WSX_WORKERS must be a positive integer, not ${process.env["WSX_WORKERS"]}`);

if (cluster.isPrimary) await runPrimary();
else await runWorker();

// ---------------------------------------------------------------- worker

async function runWorker(): Promise<void> {
  const adapter = redisAdapter({ url: redisUrl, onError: (error) => console.error(`worker ${process.pid}: ${error.message}`) });
  const server = await serve({ port, host, adapter }, async (ws) => {
    ws.subscribe("chat");
    // The self-check needs to know which worker each of its clients landed on.
    if (selfCheck) await ws.send(`welcome: worker ${process.pid}`);
    for await (const message of ws) {
      // Reaches the subscribers of every worker: this one's directly, the others' through Redis.
      if (message.type === "text") server.publish("chat", `[worker ${process.pid}] ${message.text}`);
    }
  });
  const stop = (): void => {
    void server.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

// ---------------------------------------------------------------- primary

async function runPrimary(): Promise<void> {
  let listeningPort = port;
  const listening = new Promise<void>((resolve) => {
    let count = 0;
    cluster.on("listening", (_worker, address) => {
      listeningPort = address.port;
      if (++count === workerCount) resolve();
    });
  });
  const exited = new Promise<void>((resolve) => {
    let count = 0;
    cluster.on("exit", (worker, code, signal) => {
      if (code !== 0 && !stopping) console.error(`worker ${worker.process.pid} exited (code ${code}, signal ${signal})`);
      if (++count === workerCount) resolve();
    });
  });
  let stopping = false;
  const stopWorkers = async (): Promise<void> => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
    await exited;
  };

  for (let i = 0; i < workerCount; i++) cluster.fork();
  await listening;

  if (!selfCheck) {
    console.log(`wsx cluster: ${workerCount} workers on ws://${host}:${listeningPort}, sharing topics through ${redisUrl}`);
    console.log(`connect a few clients (e.g. npx wsx connect ws://${host}:${listeningPort}) and type: every client sees every line`);
    console.log(`or send one line: npx wsx connect -x hello ws://${host}:${listeningPort}`);
    process.once("SIGINT", () => void stopWorkers().then(() => process.exit(0)));
    process.once("SIGTERM", () => void stopWorkers().then(() => process.exit(0)));
    return;
  }

  const giveUp = setTimeout(() => {
    console.error("cluster example: no answer in time");
    process.exit(1);
  }, 20_000);
  let ok = false;
  try {
    ok = await checkAcrossWorkers(`ws://${host}:${listeningPort}`);
  } finally {
    await stopWorkers();
    clearTimeout(giveUp);
  }
  console.log(ok ? "cluster example: OK" : "cluster example: FAILED");
  process.exit(ok ? 0 : 1);
}

/** A client on one worker publishes; a client on another worker must receive it. */
async function checkAcrossWorkers(url: string): Promise<boolean> {
  if (workerCount < 2) throw new Error("the check needs WSX_WORKERS >= 2");
  // Connections are shared round-robin: open a few until two workers answered.
  const byWorker = new Map<string, WebSocket>();
  const extra: WebSocket[] = [];
  for (let i = 0; i < 4 * workerCount && byWorker.size < 2; i++) {
    const ws = await connect(url);
    const welcome = (await ws.receive({ timeout: 5000 })).text;
    if (byWorker.has(welcome)) extra.push(ws);
    else byWorker.set(welcome, ws);
  }
  const [first, second] = [...byWorker.entries()];
  try {
    if (first === undefined || second === undefined) {
      console.log(`only reached ${byWorker.size} worker(s)`);
      return false;
    }
    const [publisherWorker, publisher] = first;
    const [receiverWorker, receiver] = second;
    console.log(`client 1 on ${publisherWorker.slice(9)}, client 2 on ${receiverWorker.slice(9)}`);
    // A worker hears other workers' publishes once Redis has its subscription (one round trip
    // after its first client subscribed): publish again until one arrives (bounded).
    for (let attempt = 0; attempt < 50; attempt++) {
      await publisher.send(`hello #${attempt} across workers`);
      const heard = await receiver.receive({ timeout: 200 }).catch(() => null);
      if (heard !== null) {
        console.log(`client 2 received "${heard.text}" published on another worker`);
        return true;
      }
    }
    return false;
  } finally {
    await Promise.all([...byWorker.values(), ...extra].map((ws) => ws.close()));
  }
}
