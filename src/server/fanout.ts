/**
 * Delivers a publish to this server's subscribers of a topic, encoding the
 * message once per set of encoding parameters.
 *
 * Plain frames go out as {@link SharedFrames}: when the next publish of the
 * same turn goes to the same subscribers (same topic, no subscriber added
 * or removed, nothing else queued on any connection since, every subscriber
 * still under its limit), its frame is appended to them once instead of
 * being queued on every subscriber. A server reading many publishes in one
 * turn then does per-subscriber work once per turn, and every subscriber
 * writes the same buffer, as a fan-out written by hand would.
 */
import { SharedFrames, encodeFrame } from "../core/index.js";
import type { WebSocket } from "../node/connection.js";
import type { Topics } from "../node/topics.js";

/** The last publish's shared frames and what must hold for the next to join them. */
interface Run {
  frames: SharedFrames;
  topic: string;
  exclude: WebSocket | null;
  compress: boolean | undefined;
  /** Topics.version when the run started: no subscriber came or left since. */
  version: number;
  /** Subscribers that queued the frames (counted once more per appended message). */
  members: WebSocket[];
  /** The smallest room under its limit any member had after the first message. */
  room: number;
  /** Size of the frames when the room was measured. */
  base: number;
}

export class Fanout {
  private run: Run | null = null;
  /** Once the frames are sealed the run is over: its members are not kept (some may close). */
  private readonly dropRun = (): void => {
    this.run = null;
  };

  constructor(
    private readonly topics: Topics,
    private readonly maxFrameSize: number,
  ) {}

  /** Deliver to this server's subscribers of `topic`; returns how many got the message. */
  deliver(topic: string, payload: Uint8Array, opcode: number, compress: boolean | undefined, exclude: WebSocket | null): number {
    const subscribers = this.topics.subscribers(topic);
    if (subscribers === undefined) return 0;
    // Frames too big for one frame go through each connection's own fragmenting path.
    const single = payload.length <= this.maxFrameSize;
    if (single && this.append(topic, payload, opcode, compress, exclude)) return this.run!.members.length;
    this.run = null;
    let plain: SharedFrames | null = null;
    let encoded: Map<string, Uint8Array> | null = null;
    let members: WebSocket[] | null = null;
    let room = Infinity;
    let delivered = 0;
    // A run needs every subscriber (but the excluded one) among its members.
    let complete = true;
    for (const ws of subscribers) {
      if (ws === exclude) continue;
      let frames: Uint8Array | SharedFrames | null = null;
      let shared = false;
      if (single) {
        const key = compress === false ? "" : ws.encodingKey;
        if (key === "") {
          if (plain === null) {
            plain = new SharedFrames(encodeFrame(opcode, payload, { allocate: Buffer.allocUnsafe }), Buffer.allocUnsafe, this.dropRun);
            members = [];
          }
          frames = plain;
          shared = true;
        } else if (key !== null) {
          encoded ??= new Map();
          frames = encoded.get(key) ?? null;
          if (frames === null) {
            frames = ws.encodeMessage(opcode, payload, compress);
            encoded.set(key, frames);
          }
        }
      }
      if (!ws.deliverPublished(frames, opcode, payload, compress)) {
        complete = false;
        continue;
      }
      delivered++;
      if (shared && complete) {
        members!.push(ws);
        const left = ws.publishRoom;
        if (left < room) room = left;
      } else complete = false;
    }
    if (complete && plain !== null && plain.open) {
      this.run = { frames: plain, topic, exclude, compress, version: this.topics.version, members: members!, room, base: plain.size };
    }
    return delivered;
  }

  /** Append to the last publish's shared frames when every subscriber would get this one exactly as a fresh fan-out would. */
  private append(topic: string, payload: Uint8Array, opcode: number, compress: boolean | undefined, exclude: WebSocket | null): boolean {
    const run = this.run;
    if (run === null || !run.frames.open || run.topic !== topic || run.exclude !== exclude || run.compress !== compress) return false;
    if (run.version !== this.topics.version) return false;
    // Each member was under its limit by `room` bytes; a fresh fan-out would drop this message for one past it.
    if (run.frames.size - run.base >= run.room) return false;
    if (!run.frames.append(encodeFrame(opcode, payload, { allocate: Buffer.allocUnsafe }))) return false;
    const members = run.members;
    for (let i = 0; i < members.length; i++) members[i]!.countSharedMessage();
    return true;
  }
}
