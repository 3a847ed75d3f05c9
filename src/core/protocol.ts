/**
 * The sans-IO WebSocket protocol (RFC 6455 sections 5-7) for either role.
 * Bytes go in through {@link Protocol.receive}; events come out of
 * {@link Protocol.events}; frames to send come out of {@link Protocol.output}.
 * It owns no socket and no timer, so any transport and any runtime can drive it.
 */
import { CloseFrame, encodeClosePayload, parseClosePayload } from "./close.js";
import { CloseCode, ConnectionClosedError, ProtocolError, UsageError } from "./errors.js";
import type { Extension, StreamEncoder } from "./extension.js";
import { FrameParser, MAX_CONTROL_PAYLOAD, Opcode, encodeFrame, headerSize, isControlOpcode, type FrameSink } from "./frame.js";
import { resolveLimits, type Limits } from "./limits.js";
import { OptionTable, Rules, checkOptions, invalidData } from "./options.js";
import { MaskKeyPool, applyMask, sharedMaskKeys, unmaskInPlace, type RandomSource } from "./mask.js";
import { OutgoingMessage } from "./outgoing.js";
import { Chunk, Frame, Message, frameTypeOf, type DecodeEvent, type MessageType, type ProtocolEvent } from "./message.js";
import { Utf8Validator, isValidUtf8, type Utf8Check } from "./utf8.js";
import { FrameWriter, SharedFrames, defaultSlab, sealSharedFrames, type Slab } from "./writer.js";

/** Which end of the connection this protocol plays. */
export type Role = "client" | "server";

/**
 * How received data is delivered: reassembled messages, one event per frame,
 * or `chunks` — payload pieces as they arrive, so memory does not grow with
 * frame or message size (the events' payloads are views of the input: use
 * them before the next {@link Protocol.receive}).
 */
export type Delivery = "messages" | "frames" | "chunks";

/** `open` until a close frame is sent or received, `closing` until both are, then `closed`. */
export type ProtocolState = "open" | "closing" | "closed";

/** Options of {@link Protocol}: its role, limits (see {@link Limits}) and extensions. */
export interface ProtocolOptions extends Partial<Limits> {
  /** `client` masks what it sends and expects unmasked frames; `server` the reverse. */
  role: Role;
  /**
   * Limits already resolved (see `resolveLimits`), shared by many protocols
   * instead of one copy each; when given, the single limit fields are ignored.
   */
  limits?: Readonly<Limits>;
  /** Answer pings with pongs automatically (default true). */
  autoPong?: boolean;
  /** Answer a close frame with a close frame automatically (default true). */
  autoClose?: boolean;
  /** Deliver whole messages (default) or single frames. */
  deliver?: Delivery;
  /** A native whole-buffer UTF-8 check to speed up validation (Node: `buffer.isUtf8`). */
  utf8Check?: Utf8Check;
  /** Where outgoing frames are written; shared by all protocols by default. */
  slab?: Slab;
  /** Source of masking keys for the client role (default `crypto.getRandomValues`). */
  random?: RandomSource;
  /** Extensions negotiated in the handshake, in the order the response listed them. */
  extensions?: readonly Extension[];
  /**
   * Hand received messages that an extension prefers to decode off the
   * caller's thread (see `Extension.asyncThreshold`) to the driver as
   * `decode` events, instead of decoding them inside {@link Protocol.receive}
   * (default false). Input after such a message is held unparsed until the
   * driver calls {@link Protocol.decoded} or {@link Protocol.decodeFailed}.
   */
  asyncDecode?: boolean;
}

/** Options for one outgoing message (see {@link Protocol.sendMessage}). */
export interface MessageOptions {
  /** Let extensions compress this message (default true); false sends it as it is. */
  compress?: boolean;
  /** Split the message into frames of at most this many bytes. */
  fragmentSize?: number;
}

// fragmentSize is checked by checkFragmentSize.
const MESSAGE_OPTIONS = new OptionTable<MessageOptions>({ compress: Rules.boolean, fragmentSize: null });
const TRANSFORMED_OPTIONS = new OptionTable<{ fragmentSize?: number }>({ fragmentSize: null });
const ENCODE_OPTIONS = new OptionTable<{ compress?: boolean }>({ compress: Rules.boolean });

/** The options a protocol takes, and what each accepts (limits are checked by `resolveLimits`). */
const PROTOCOL_OPTIONS = new OptionTable<ProtocolOptions>({
  role: Rules.oneOf("client", "server"),
  limits: Rules.object,
  autoPong: Rules.boolean,
  autoClose: Rules.boolean,
  deliver: Rules.oneOf("messages", "frames", "chunks"),
  utf8Check: Rules.function,
  slab: Rules.object,
  random: Rules.function,
  extensions: Rules.arrayOf(Rules.object),
  asyncDecode: Rules.boolean,
  maxFrameSize: null,
  maxMessageSize: null,
  maxFragments: null,
  maxHeaderBytes: null,
  maxHeaderCount: null,
});

const EMPTY = new Uint8Array(0);
const NO_EXTENSIONS: readonly Extension[] = Object.freeze([]);
/** First allocation when a message has to be reassembled from pieces. */
const MIN_ASSEMBLY = 16 * 1024;
/**
 * Up to this size the bytes a frame header announces are allocated at once
 * (one copy per byte); beyond it the buffer grows with what actually
 * arrives, so a header alone cannot make the connection reserve much.
 */
const EAGER_ASSEMBLY = 1024 * 1024;
/** {@link Protocol.receiveBuffer} offers a place only for at least this much of a frame's payload. */
const DIRECT_RECEIVE_MIN = 16 * 1024;

/**
 * One WebSocket connection's protocol state.
 *
 * @example
 * ```ts
 * import { Protocol } from "wsx/core";
 * const server = new Protocol({ role: "server" });
 * // a masked text frame "Hi" from a client
 * server.receive(new Uint8Array([0x81, 0x82, 1, 2, 3, 4, 0x48 ^ 1, 0x69 ^ 2]));
 * const [message] = server.events();
 * // message.type === "text", message.text === "Hi"
 * server.sendText("Hello");
 * const bytes = server.output(); // chunks to write to the transport
 * ```
 */
export class Protocol implements FrameSink {
  readonly role: Role;
  readonly limits: Readonly<Limits>;
  autoPong: boolean;
  autoClose: boolean;
  /** Takes effect from the next message on. */
  deliver: Delivery;

  /** Created with the first input: a connection that has received nothing holds no parser. */
  private parser: FrameParser | null = null;
  /** Created with the first output. */
  private writer: FrameWriter | null = null;
  private readonly slab: Slab;
  /** Client masking keys (null on a server, which does not mask). */
  private readonly maskKeys: MaskKeyPool | null;
  /** RSV bits claimed by the negotiated extensions. */
  private readonly allowedRsv: number;
  /** Events not yet taken by {@link events}; null when there are none (most connections, most of the time). */
  private queue: ProtocolEvent[] | null = null;

  // The frame being received.
  private frameOpcode = 0;
  private frameFin = false;
  private frameLength = 0;
  private frameReceived = 0;
  // The data message being received.
  private messageType: MessageType | null = null;
  private messageDelivery: Delivery = "messages";
  /** RSV bits of the current message's first frame: an extension encoded it. */
  private messageRsv = 0;
  private messageSize = 0;
  private fragments = 0;
  /** Moves with every data frame header and payload piece: see {@link dataActivity}. */
  private dataProgress = 0;
  /** Created with the first text message. */
  private utf8: Utf8Validator | null = null;
  private readonly utf8Check: Utf8Check | undefined;
  private textDecoder: InstanceType<typeof TextDecoder> | null = null;
  private data: Uint8Array | null = null;
  private dataLength = 0;
  private dataOwned = false;
  /** The place last offered by receiveBuffer(), until the next receive(). */
  private offered: Uint8Array | null = null;
  // The control frame being received.
  private control: Uint8Array | null = null;
  private controlLength = 0;
  // Sending side of a fragmented message.
  private sendingFragmented = false;
  /** Pre-encoded messages that arrived while a fragmented message was being sent: they follow its last frame. */
  private deferredEncoded: Uint8Array[] | null = null;
  /** {@link encodingKey}, computed on first use (the extensions never change). */
  private sharedEncodingKey: string | null | undefined = undefined;
  private readonly extensions: readonly Extension[];
  private readonly asyncDecode: boolean;
  /** The type of the message handed out in a `decode` event and not yet decoded, or null. */
  private pendingDecode: MessageType | null = null;

  private sentClose: CloseFrame | null = null;
  private receivedClose: CloseFrame | null = null;
  private failure: ProtocolError | null = null;
  /**
   * The close frame answering {@link failure}, queued by the next
   * {@link output}: what the driver sends before then (answers to the
   * messages that preceded the violation) goes out first.
   */
  private failureClose: CloseFrame | null = null;
  private transportEnded = false;

  /** Throws UsageError `UNKNOWN_OPTION` / `INVALID_OPTION` (or `INVALID_LIMIT`) for options it cannot use. */
  constructor(options: ProtocolOptions) {
    checkOptions(options, PROTOCOL_OPTIONS, "Protocol");
    if (options?.role === undefined) throw new UsageError("INVALID_OPTION", 'Protocol: role must be "client" or "server"');
    this.role = options.role;
    this.limits = options.limits ?? resolveLimits(options);
    this.autoPong = options.autoPong ?? true;
    this.autoClose = options.autoClose ?? true;
    this.deliver = options.deliver ?? "messages";
    this.utf8Check = options.utf8Check;
    this.slab = options.slab ?? defaultSlab();
    this.maskKeys = this.role === "server" ? null : options.random !== undefined ? new MaskKeyPool(options.random) : sharedMaskKeys();
    // One shared empty list for the common case, not an empty array per connection.
    this.extensions = options.extensions !== undefined && options.extensions.length > 0 ? options.extensions : NO_EXTENSIONS;
    this.asyncDecode = options.asyncDecode ?? false;
    let allowedRsv = 0;
    for (const extension of this.extensions) {
      if ((allowedRsv & extension.rsv) !== 0) throw new UsageError("EXTENSION_CONFLICT", `${extension.name} claims RSV bits already in use`);
      allowedRsv |= extension.rsv;
    }
    this.allowedRsv = allowedRsv;
  }

  private openParser(): FrameParser {
    // The protocol unmasks itself: pieces it copies into a message are unmasked while copied.
    this.parser ??= new FrameParser(
      { role: this.role, maxFrameSize: this.limits.maxFrameSize, allowedRsv: this.allowedRsv, unmask: false },
      this,
    );
    return this.parser;
  }

  private openWriter(): FrameWriter {
    this.writer ??= new FrameWriter(this.maskKeys !== null, this.slab, this.maskKeys ?? undefined);
    return this.writer;
  }

  private emitEvent(event: ProtocolEvent): void {
    if (this.queue === null) this.queue = [event];
    else this.queue.push(event);
  }

  // ---- state ----

  /** Where the closing handshake stands (see {@link ProtocolState}). */
  get state(): ProtocolState {
    if (this.transportEnded) return "closed";
    if (this.failure !== null) return this.failureClose !== null ? "closing" : "closed";
    if (this.sentClose !== null && this.receivedClose !== null) return "closed";
    if (this.sentClose !== null || this.receivedClose !== null) return "closing";
    return "open";
  }

  /** The close frame received from the peer, if any. */
  get closeReceived(): CloseFrame | null {
    return this.receivedClose;
  }

  /** The close frame sent to the peer, if any. */
  get closeSent(): CloseFrame | null {
    return this.sentClose;
  }

  /**
   * A counter that moves whenever part of a data message arrives (a data
   * frame's header or a piece of its payload) and never for control frames.
   * Compare it across reads to tell message traffic, a large frame still
   * trickling in included, from pings and pongs.
   */
  get dataActivity(): number {
    return this.dataProgress;
  }

  /** The extensions negotiated for this connection, as given to the constructor. */
  get negotiatedExtensions(): readonly Extension[] {
    return this.extensions;
  }

  /** The protocol error that failed the connection, if any. */
  get error(): ProtocolError | null {
    return this.failure;
  }

  /**
   * True from a violation until {@link output} queues the close frame that
   * answers it (see {@link receive}): the application may still answer the
   * messages that arrived before the bad frame.
   */
  get failing(): boolean {
    return this.failureClose !== null;
  }

  /**
   * The connection's close code as RFC 6455 section 7.1.5 defines it: the code
   * of the close frame received, 1005 if it had none, 1006 if none arrived.
   */
  get closeCode(): number {
    return this.receivedClose?.code ?? CloseCode.ABNORMAL;
  }

  /** The reason of the close frame received, or "". */
  get closeReason(): string {
    return this.receivedClose?.reason ?? "";
  }

  /**
   * True once the transport should be closed: the close handshake finished, or
   * the connection failed and its close frame was taken by {@link output}.
   * A server closes TCP first (RFC 6455 section 7.1.1).
   */
  get shouldCloseTransport(): boolean {
    return this.state === "closed";
  }

  // ---- receiving ----

  /**
   * Feed bytes from the transport, in any chunking. The protocol takes the
   * chunk over (payloads are unmasked in place and may be handed out as
   * views), so do not reuse it. Never throws for bad input.
   *
   * A violation (RFC 6455 7.1.7) stops parsing at the bad frame: everything
   * before it is delivered as usual, in order, and the `error` event comes
   * last; nothing after the bad frame is read. The close frame answering
   * the error is queued by the next {@link output} call (see
   * {@link failing}), so a driver that handles the events first and then
   * takes the output writes the application's answers to those messages
   * before the close frame, whatever the chunking of the input.
   *
   * @example
   * ```ts
   * import { Protocol } from "wsx/core";
   * const server = new Protocol({ role: "server" });
   * const mask = [1, 2, 3, 4];
   * const masked = (b0: number, payload: number[]) =>
   *   [b0, 0x80 | payload.length, ...mask, ...payload.map((b, i) => b ^ mask[i % 4]!)];
   * // "Hi", then a frame with a reserved opcode (0x3): a protocol error
   * server.receive(new Uint8Array([...masked(0x81, [0x48, 0x69]), ...masked(0x83, [])]));
   * for (const event of server.events()) {
   *   if (event.type === "text") server.sendText(event.text); // answered
   *   if (event.type === "error") console.log(event.error.code); // "UNKNOWN_OPCODE"
   * }
   * const out = server.output(); // the echo of "Hi", then the close frame (1002)
   * ```
   */
  receive(chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) throw invalidData("receive()", "a Uint8Array", chunk);
    const offered = this.offered;
    if (offered !== null) {
      this.offered = null;
      // Bytes that did not land where receiveBuffer() said: that place may still be written
      // later, so the message collected there moves before anything else is added to it.
      if (chunk.buffer !== offered.buffer || chunk.byteOffset !== offered.byteOffset) this.moveData(offered);
    }
    if (chunk.length > 0) this.openParser().push(chunk);
  }

  /**
   * Where the next bytes received may be written to spare a copy: the free
   * part of the buffer collecting the message now arriving, at most the rest
   * of its current frame. A driver that can read into a buffer of its
   * choosing reads there, then passes the view's filled prefix to
   * {@link receive} (the bytes are then unmasked and checked where they lie).
   * Null between frames, for control frames, small remainders and `chunks`
   * delivery: read anywhere then. The place is good until the next
   * {@link receive}; bytes passed from elsewhere first move the message
   * away, so a late write into an older place changes nothing.
   *
   * @example
   * ```ts
   * import { Protocol } from "wsx/core";
   * const client = new Protocol({ role: "client" });
   * const payload = new Uint8Array(100_000).fill(7);
   * client.receive(new Uint8Array([0x82, 126 + 1, 0, 0, 0, 0, 0, 0x01, 0x86, 0xa0])); // a 100,000-byte binary frame's header
   * const place = client.receiveBuffer()!; // room for the whole payload
   * place.set(payload); // as a socket read into `place` would
   * client.receive(place);
   * const [event] = client.events();
   * console.log(event!.type === "binary" && event.data.length); // 100000
   * ```
   */
  receiveBuffer(): Uint8Array | null {
    const parser = this.parser;
    const remaining = parser === null ? 0 : parser.payloadRemaining;
    if (remaining < DIRECT_RECEIVE_MIN || isControlOpcode(this.frameOpcode) || this.messageDelivery === "chunks") return null;
    if (!this.dataOwned || this.data === null || this.data.length - this.dataLength < DIRECT_RECEIVE_MIN) {
      this.growData(this.dataLength + Math.min(remaining, DIRECT_RECEIVE_MIN));
    }
    const data = this.data!;
    const length = Math.min(remaining, data.length - this.dataLength);
    return (this.offered = new Uint8Array(data.buffer, data.byteOffset + this.dataLength, length));
  }

  /** The events produced since the last call, in order. */
  events(): ProtocolEvent[] {
    const events = this.queue;
    if (events === null) return [];
    this.queue = null;
    return events;
  }

  /** True when {@link events} has something to return. */
  get hasEvents(): boolean {
    return this.queue !== null;
  }

  /**
   * True while a `decode` event waits for {@link decoded} or
   * {@link decodeFailed}: input is held, unparsed, meanwhile (a driver
   * should stop reading to keep it bounded).
   */
  get decoding(): boolean {
    return this.pendingDecode !== null;
  }

  /**
   * Tell the protocol the transport is gone. If no close frame was received
   * this ends the connection abnormally (close event with code 1006).
   */
  transportClosed(): void {
    if (this.transportEnded) return;
    this.transportEnded = true;
    this.failureClose = null;
    this.openParser().stop();
    for (const extension of this.extensions) extension.dispose();
    if (this.receivedClose === null) {
      this.emitEvent({ type: "close", code: CloseCode.ABNORMAL, reason: "", received: false });
    }
  }

  /** @internal {@link FrameSink} side of the protocol: called by its parser only. */
  onFrameHeader(fin: boolean, rsv: number, opcode: number, length: number): void {
    this.frameOpcode = opcode;
    this.frameFin = fin;
    this.frameLength = length;
    this.frameReceived = 0;
    // Extensions mark a message on its first frame only (RFC 7692 section 6); never on control frames.
    if (rsv !== 0 && (isControlOpcode(opcode) || opcode === Opcode.CONTINUATION)) {
      return this.fail(new ProtocolError("RESERVED_BITS", "RSV bits on a control or continuation frame"));
    }
    if (isControlOpcode(opcode)) {
      this.control = null;
      this.controlLength = 0;
      return;
    }
    this.dataProgress++;
    if (opcode === Opcode.CONTINUATION) {
      if (this.messageType === null) return this.fail(new ProtocolError("UNEXPECTED_CONTINUATION"));
      if (++this.fragments > this.limits.maxFragments) {
        return this.fail(new ProtocolError("TOO_MANY_FRAGMENTS", `more than ${this.limits.maxFragments}`));
      }
    } else {
      if (this.messageType !== null) return this.fail(new ProtocolError("EXPECTED_CONTINUATION"));
      this.messageType = opcode === Opcode.TEXT ? "text" : "binary";
      if (opcode === Opcode.TEXT) this.utf8 ??= new Utf8Validator(this.utf8Check);
      // An encoded message is collected whole and decoded at its end, whatever the delivery mode.
      this.messageRsv = rsv;
      this.messageDelivery = rsv === 0 ? this.deliver : "messages";
      this.messageSize = 0;
      this.fragments = 1;
      if (this.messageDelivery === "frames" && this.messageType === "text") this.textDecoder = new TextDecoder();
    }
    this.messageSize += length;
    // An encoded message is limited by its decoded size (the extension stops at maxMessageSize);
    // its wire size may exceed that a little, as incompressible data grows when deflated.
    const max = this.limits.maxMessageSize;
    const wireLimit = this.messageRsv === 0 ? max : max + Math.ceil(max / 1024) + 64;
    if (this.messageSize > wireLimit) {
      return this.fail(new ProtocolError("MESSAGE_TOO_BIG", `${this.messageSize} > ${max} bytes`));
    }
  }

  /** @internal */
  onFramePayload(view: Uint8Array, key: Uint8Array | null, phase: number): void {
    const whole = this.frameReceived === 0 && view.length === this.frameLength;
    this.frameReceived += view.length;
    if (!isControlOpcode(this.frameOpcode)) this.dataProgress++;
    // Copied into a growing message: unmask during the copy and check UTF-8 on the copy.
    const unit = this.messageDelivery === "frames" || (this.frameFin && this.fragments === 1);
    if (key !== null && !isControlOpcode(this.frameOpcode) && this.messageDelivery !== "chunks" && !(whole && unit)) {
      const start = this.dataLength;
      this.appendData(view, key, phase);
      if (this.messageType === "text" && this.messageRsv === 0 && !this.utf8!.push(this.data!.subarray(start, this.dataLength))) {
        this.fail(new ProtocolError("INVALID_UTF8"));
      }
      return;
    }
    if (key !== null) unmaskInPlace(view, key, phase);
    if (isControlOpcode(this.frameOpcode)) {
      if (whole) {
        this.control = view;
      } else {
        this.control ??= this.slab.allocate(this.frameLength);
        this.control.set(view, this.controlLength);
      }
      this.controlLength += view.length;
      return;
    }
    if (this.messageType === "text" && this.messageRsv === 0 && !this.utf8!.push(view)) {
      return this.fail(new ProtocolError("INVALID_UTF8"));
    }
    if (this.messageDelivery === "chunks") {
      this.emitEvent(new Chunk(this.messageType!, this.frameOpcode, this.frameFin, view, this.frameLength, this.frameReceived - view.length));
      return;
    }
    // Zero copy when a frame that is a whole unit of delivery arrived in one piece.
    if (whole && unit) {
      this.data = view;
      this.dataLength = view.length;
      this.dataOwned = false;
      return;
    }
    this.appendData(view, null, 0);
  }

  /** Copy a piece onto the message being collected, unmasking it on the way when `key` is given. */
  private appendData(view: Uint8Array, key: Uint8Array | null, phase: number): void {
    const need = this.dataLength + view.length;
    const data = this.data;
    if (this.dataOwned && data !== null && view.buffer === data.buffer && view.byteOffset === data.byteOffset + this.dataLength) {
      // Read straight into place (receiveBuffer): only the unmasking is left.
      if (key !== null) unmaskInPlace(view, key, phase);
      this.dataLength = need;
      return;
    }
    if (!this.dataOwned || data === null || data.length < need) this.growData(need);
    if (key === null) this.data!.set(view, this.dataLength);
    else applyMask(view, 0, this.data!, this.dataLength, view.length, key, phase);
    this.dataLength = need;
  }

  /** A buffer of at least `need` bytes for the message being collected, holding what it has so far. */
  private growData(need: number): void {
    // Grow geometrically (linear time for many small fragments), never past maxMessageSize.
    const frames = this.messageDelivery === "frames";
    const upper = frames ? this.frameLength : this.limits.maxMessageSize;
    const announced = Math.min(frames ? this.frameLength : this.messageSize, EAGER_ASSEMBLY);
    const capacity = Math.max(need, Math.min(upper, Math.max(2 * (this.data?.length ?? 0), MIN_ASSEMBLY, announced)));
    const grown = this.slab.allocate(capacity);
    if (this.data !== null && this.dataLength > 0) grown.set(this.data.subarray(0, this.dataLength), 0);
    this.data = grown;
    this.dataOwned = true;
  }

  /** The message collected so far leaves the buffer of a place offered earlier (see {@link receive}). */
  private moveData(offered: Uint8Array): void {
    if (!this.dataOwned || this.data === null || this.data.buffer !== offered.buffer) return;
    const moved = this.slab.allocate(this.data.length);
    moved.set(this.data.subarray(0, this.dataLength), 0);
    this.data = moved;
  }

  private takeData(): Uint8Array {
    const data = this.data === null ? EMPTY : this.dataOwned ? this.data.subarray(0, this.dataLength) : this.data;
    this.data = null;
    this.dataLength = 0;
    this.dataOwned = false;
    return data;
  }

  /** @internal */
  onFrameEnd(): void {
    const opcode = this.frameOpcode;
    if (isControlOpcode(opcode)) return this.onControlFrame(opcode, this.control ?? EMPTY);
    const type = this.messageType!;
    if (this.frameFin && type === "text" && this.messageRsv === 0 && !this.utf8!.finish()) {
      return this.fail(new ProtocolError("INVALID_UTF8", "message ends inside a character"));
    }
    if (this.messageRsv !== 0) {
      if (this.frameFin) this.finishEncodedMessage(type);
    } else if (this.messageDelivery === "chunks") {
      // Pieces went out as they arrived; an empty frame still gets its one event.
      if (this.frameLength === 0) this.emitEvent(new Chunk(type, opcode, this.frameFin, EMPTY, 0, 0));
    } else if (this.messageDelivery === "frames") {
      const payload = this.takeData();
      let text: string | undefined;
      if (this.textDecoder !== null) {
        text = this.textDecoder.decode(payload, { stream: !this.frameFin });
      }
      this.emitEvent({ type: "frame", frame: new Frame(frameTypeOf(opcode, type), opcode, this.frameFin, payload, text) });
    } else if (this.frameFin) {
      this.emitEvent(new Message(type, this.takeData()));
    }
    if (this.frameFin) {
      this.messageType = null;
      this.textDecoder = null;
    }
  }

  /** Decode a message an extension marked (or hand it out to decode), check it, and deliver it in the current mode. */
  private finishEncodedMessage(type: MessageType): void {
    let payload = this.takeData();
    const rsv = this.messageRsv;
    this.messageRsv = 0;
    if (this.asyncDecode && this.prefersAsyncDecode(rsv, payload.length)) {
      const extensions: Extension[] = [];
      for (let i = this.extensions.length - 1; i >= 0; i--) {
        if ((rsv & this.extensions[i]!.rsv) !== 0) extensions.push(this.extensions[i]!);
      }
      const event: DecodeEvent = { type: "decode", messageType: type, payload, extensions, maxSize: this.limits.maxMessageSize };
      // Nothing after this message may be parsed before it is decoded: a close
      // frame, later messages, and the decoder's own context all wait.
      this.pendingDecode = type;
      this.openParser().pause();
      this.emitEvent(event);
      return;
    }
    try {
      for (let i = this.extensions.length - 1; i >= 0; i--) {
        const extension = this.extensions[i]!;
        if ((rsv & extension.rsv) !== 0) payload = extension.decode(payload, this.limits.maxMessageSize);
      }
    } catch (error) {
      return this.fail(decodeFailure(error));
    }
    this.deliverDecoded(type, payload);
  }

  /** Some extension that encoded this message would rather decode it asynchronously. */
  private prefersAsyncDecode(rsv: number, size: number): boolean {
    for (const extension of this.extensions) {
      if ((rsv & extension.rsv) !== 0 && extension.decodeAsync !== undefined && size >= (extension.asyncThreshold ?? Infinity)) return true;
    }
    return false;
  }

  private deliverDecoded(type: MessageType, payload: Uint8Array): void {
    if (type === "text" && !isValidUtf8(payload, this.utf8Check)) return this.fail(new ProtocolError("INVALID_UTF8"));
    const opcode = type === "text" ? Opcode.TEXT : Opcode.BINARY;
    if (this.deliver === "messages") {
      this.emitEvent(new Message(type, payload));
    } else if (this.deliver === "frames") {
      const text = type === "text" ? new TextDecoder().decode(payload) : undefined;
      this.emitEvent({ type: "frame", frame: new Frame(type, opcode, true, payload, text) });
    } else {
      this.emitEvent(new Chunk(type, opcode, true, payload, payload.length, 0));
    }
  }

  /**
   * The message of the pending `decode` event, decoded: it is checked and
   * delivered like any other, then parsing goes on with the input held
   * meanwhile (which may produce another `decode` event). Ignored once the
   * transport is gone. Throws UsageError `NO_PENDING_DECODE` when no decode
   * is pending.
   */
  decoded(payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array)) throw invalidData("decoded()", "a Uint8Array", payload);
    const type = this.takePendingDecode();
    if (this.transportEnded || this.failure !== null) return;
    this.deliverDecoded(type, payload);
    if (this.failure === null) this.openParser().resume();
  }

  /**
   * The pending `decode` event's message could not be decoded: fail the
   * connection as {@link receive} would have (1009 for `MESSAGE_TOO_BIG`,
   * 1007 for anything that is not a `ProtocolError`). Ignored once the
   * transport is gone. Throws UsageError `NO_PENDING_DECODE` when no
   * decode is pending.
   */
  decodeFailed(error: unknown): void {
    this.takePendingDecode();
    if (this.transportEnded || this.failure !== null) return;
    this.fail(decodeFailure(error));
  }

  private takePendingDecode(): MessageType {
    const type = this.pendingDecode;
    if (type === null) throw new UsageError("NO_PENDING_DECODE", "no decode event is waiting for its result");
    this.pendingDecode = null;
    return type;
  }

  private onControlFrame(opcode: number, payload: Uint8Array): void {
    if (opcode === Opcode.PING) {
      this.emitEvent({ type: "ping", payload });
      if (this.autoPong && this.sentClose === null) this.openWriter().frame(true, 0, Opcode.PONG, payload);
      return;
    }
    if (opcode === Opcode.PONG) {
      this.emitEvent({ type: "pong", payload });
      return;
    }
    let frame: CloseFrame;
    try {
      frame = parseClosePayload(payload);
    } catch (error) {
      return this.fail(error as ProtocolError);
    }
    this.receivedClose = frame;
    this.openParser().stop(); // RFC 6455 5.5.1: nothing follows a close frame
    this.emitEvent({ type: "close", code: frame.code, reason: frame.reason, received: true });
    if (this.autoClose && this.sentClose === null) {
      // Echo the code (RFC 6455 5.5.1); an empty close answers an empty close.
      this.writeClose(new CloseFrame(frame.code, ""));
    }
  }

  /** @internal */
  onFrameError(error: ProtocolError): void {
    this.fail(error);
  }

  /** Fail the connection (RFC 6455 7.1.7): queue a close frame with the error's code, stop reading. */
  private fail(error: ProtocolError): void {
    if (this.failure !== null) return;
    this.failure = error;
    this.openParser().stop();
    this.messageType = null;
    this.data = null;
    // Queued by the next output(): answers to what came before the bad frame go out first.
    if (this.sentClose === null) this.failureClose = new CloseFrame(error.closeCode, "");
    this.emitEvent({ type: "error", error });
  }

  // ---- sending ----

  /** Queue a complete text message. */
  sendText(text: string): void {
    if (typeof text !== "string") throw invalidData("sendText()", "a string", text);
    if (this.extensions.length > 0) return this.sendMessage(Opcode.TEXT, text);
    this.checkCanSendData();
    this.openWriter().text(true, 0, Opcode.TEXT, text);
  }

  /** Queue a complete binary message. The bytes must not change until they are written. */
  sendBinary(data: Uint8Array): void {
    if (!(data instanceof Uint8Array)) throw invalidData("sendBinary()", "a Uint8Array", data);
    if (this.extensions.length > 0) return this.sendMessage(Opcode.BINARY, data);
    this.checkCanSendData();
    this.openWriter().frame(true, 0, Opcode.BINARY, data);
  }

  /**
   * Queue a whole message (TEXT or BINARY), letting negotiated extensions
   * transform it (`compress: false` opts out) and splitting it into frames of
   * `fragmentSize` bytes if given; only the first frame carries the RSV bits.
   */
  sendMessage(opcode: number, payload: Uint8Array | string, options: MessageOptions = {}): void {
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) {
      throw new UsageError("INVALID_FRAME", `opcode ${opcode} is not TEXT or BINARY`);
    }
    if (typeof payload !== "string" && !(payload instanceof Uint8Array)) throw invalidData("sendMessage()", "a string or a Uint8Array", payload);
    checkOptions(options, MESSAGE_OPTIONS, "sendMessage()");
    if (options.fragmentSize !== undefined) checkFragmentSize(options.fragmentSize);
    this.checkCanSendData();
    const { bytes, rsv } = this.applyExtensions(toBytes(payload), options);
    this.writeMessage(opcode, bytes, rsv, options.fragmentSize);
  }

  /**
   * Queue a whole message whose payload the extensions have already
   * transformed (asynchronously, say: see `Extension.encodeAsync`), with the
   * RSV bits they set; framed like {@link sendMessage} would.
   */
  sendTransformed(opcode: number, payload: Uint8Array, rsv: number, options: { fragmentSize?: number } = {}): void {
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) {
      throw new UsageError("INVALID_FRAME", `opcode ${opcode} is not TEXT or BINARY`);
    }
    if (!(payload instanceof Uint8Array)) throw invalidData("sendTransformed()", "a Uint8Array", payload);
    checkOptions(options, TRANSFORMED_OPTIONS, "sendTransformed()");
    if (options.fragmentSize !== undefined) checkFragmentSize(options.fragmentSize);
    if (!Number.isInteger(rsv) || (rsv & ~this.allowedRsv) !== 0) {
      throw new UsageError("INVALID_FRAME", `RSV bits ${rsv} are not all claimed by a negotiated extension`);
    }
    this.checkCanSendData();
    this.writeMessage(opcode, payload, rsv, options.fragmentSize);
  }

  /** Frame a message, split into frames of `size` bytes if given; only the first frame carries the RSV bits. */
  private writeMessage(opcode: number, bytes: Uint8Array, rsv: number, size: number | undefined): void {
    if (size === undefined || bytes.length <= size) return this.openWriter().frame(true, rsv, opcode, bytes);
    for (let offset = 0; offset < bytes.length; offset += size) {
      const end = Math.min(offset + size, bytes.length);
      this.openWriter().frame(end === bytes.length, offset === 0 ? rsv : 0, offset === 0 ? opcode : Opcode.CONTINUATION, bytes.subarray(offset, end));
    }
  }

  /**
   * Start a message whose payload is given in pieces (a streamed send): each
   * {@link OutgoingMessage.write} queues its piece at once, transformed by
   * the negotiated extensions that can work on a stream (permessage-deflate
   * compresses it, flushing every piece; `compress: false` opts out) and
   * split into frames of at most `fragmentSize` bytes (default the
   * maxFrameSize limit). Until its last piece, other data messages are
   * refused like during {@link sendFrame} fragments; control frames may go between.
   */
  startMessage(opcode: number, options: MessageOptions = {}): OutgoingMessage {
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) {
      throw new UsageError("INVALID_FRAME", `opcode ${opcode} is not TEXT or BINARY`);
    }
    checkOptions(options, MESSAGE_OPTIONS, "startMessage()");
    if (options.fragmentSize !== undefined) checkFragmentSize(options.fragmentSize);
    this.checkCanSendData();
    const encoders: StreamEncoder[] = [];
    let rsv = 0;
    for (const extension of this.extensions) {
      const encoder = extension.encodeStream?.({ compress: options.compress }) ?? null;
      if (encoder !== null) {
        encoders.push(encoder);
        rsv |= extension.rsv;
      }
    }
    this.sendingFragmented = true;
    // Its frames come later; messages shared with other connections from now on must follow them.
    sealSharedFrames();
    return new OutgoingMessage(this, opcode, rsv, encoders, options.fragmentSize ?? this.limits.maxFrameSize);
  }

  /** @internal A frame of a message started with {@link startMessage}. */
  writeStreamFrame(opcode: number, rsv: number, payload: Uint8Array, fin: boolean): void {
    this.checkCanSend();
    this.openWriter().frame(fin, rsv, opcode, payload);
    if (fin) this.endFragmented();
  }

  /**
   * Queue one data frame of a possibly fragmented message: TEXT or BINARY
   * starts a message, CONTINUATION continues it, `fin` ends it. Text payloads
   * may split a character between frames; the message as a whole must be UTF-8.
   */
  sendFrame(opcode: number, payload: Uint8Array | string, fin: boolean): void {
    if (typeof payload !== "string" && !(payload instanceof Uint8Array)) throw invalidData("sendFrame()", "a string or a Uint8Array", payload);
    if (typeof fin !== "boolean") throw new UsageError("INVALID_FRAME", `fin must be true or false, got ${String(fin)}`);
    if (isControlOpcode(opcode)) {
      if (!fin) throw new UsageError("INVALID_FRAME", "control frames cannot be fragmented");
      if (opcode === Opcode.PING) return this.ping(toBytes(payload));
      if (opcode === Opcode.PONG) return this.pong(toBytes(payload));
      throw new UsageError("INVALID_FRAME", "use close() to send a close frame");
    }
    this.checkCanSend();
    if (opcode === Opcode.CONTINUATION) {
      if (!this.sendingFragmented) throw new UsageError("NO_MESSAGE_TO_CONTINUE", "no fragmented message in progress");
    } else if (opcode === Opcode.TEXT || opcode === Opcode.BINARY) {
      if (this.sendingFragmented) throw new UsageError("FRAGMENTED_MESSAGE_IN_PROGRESS", "finish the fragmented message first");
    } else {
      throw new UsageError("INVALID_FRAME", `opcode ${opcode} is not a data opcode`);
    }
    this.sendingFragmented = !fin;
    if (typeof payload === "string") this.openWriter().text(fin, 0, opcode, payload);
    else this.openWriter().frame(fin, 0, opcode, payload);
    if (fin) this.endFragmented();
  }

  /** A fragmented message is over: encoded messages held back behind it follow it. */
  private endFragmented(): void {
    this.sendingFragmented = false;
    if (this.deferredEncoded !== null) {
      for (const frames of this.deferredEncoded) this.openWriter().encoded(frames);
      this.deferredEncoded = null;
    }
  }

  /** A fragmented message is being sent (its last frame, with fin, has not been queued): data frames must continue it. */
  get sendingFragments(): boolean {
    return this.sendingFragmented;
  }

  /**
   * A key shared by every protocol that would encode a given message to the
   * same bytes (server role, extensions without per-message state), or null
   * when this connection's output must be encoded for it alone. Use with
   * {@link encodeMessage} and {@link sendEncoded} to encode a broadcast once.
   */
  get encodingKey(): string | null {
    if (this.sharedEncodingKey === undefined) {
      let key: string | null = "";
      if (this.role !== "server") key = null;
      for (const extension of this.extensions) {
        const shared = extension.sharedEncoding;
        if (key === null || shared === undefined || shared === null) {
          key = null;
          break;
        }
        key += `${shared};`;
      }
      this.sharedEncodingKey = key;
    }
    return this.sharedEncodingKey;
  }

  /**
   * Encode a whole message as one unmasked frame, through the extensions as
   * {@link sendMessage} would, without queueing it: the bytes can be given
   * to {@link sendEncoded} of every protocol with the same {@link encodingKey}.
   */
  encodeMessage(opcode: number, payload: Uint8Array, options: { compress?: boolean } = {}): Uint8Array {
    if (opcode !== Opcode.TEXT && opcode !== Opcode.BINARY) {
      throw new UsageError("INVALID_FRAME", `opcode ${opcode} is not TEXT or BINARY`);
    }
    if (!(payload instanceof Uint8Array)) throw invalidData("encodeMessage()", "a Uint8Array", payload);
    checkOptions(options, ENCODE_OPTIONS, "encodeMessage()");
    const { bytes, rsv } = this.applyExtensions(payload, options);
    return encodeFrame(opcode, bytes, { rsv, allocate: this.slab.allocate });
  }

  /** Run an outgoing message through the negotiated extensions: the bytes to send and the RSV bits they set. */
  private applyExtensions(payload: Uint8Array, options: { compress?: boolean }): { bytes: Uint8Array; rsv: number } {
    let bytes = payload;
    let rsv = 0;
    for (const extension of this.extensions) {
      const encoded = extension.encode(bytes, options);
      if (encoded !== null) {
        bytes = encoded;
        rsv |= extension.rsv;
      }
    }
    return { bytes, rsv };
  }

  /**
   * Queue a message already encoded as whole frames (see
   * {@link encodeMessage}); the bytes are not changed. While a fragmented
   * message is being sent, it follows that message's last frame.
   */
  sendEncoded(frames: Uint8Array): void {
    if (!(frames instanceof Uint8Array)) throw invalidData("sendEncoded()", "a Uint8Array", frames);
    this.checkCanSend();
    if (this.sendingFragmented) (this.deferredEncoded ??= []).push(frames);
    else this.openWriter().encoded(frames);
  }

  /**
   * Queue frames shared with other protocols that may still grow (see
   * {@link SharedFrames}): a broadcast of several messages in one turn is
   * queued once per connection. While a fragmented message is being sent,
   * the frames are sealed as they are and follow that message's last frame.
   */
  sendShared(frames: SharedFrames): void {
    if (!(frames instanceof SharedFrames)) throw invalidData("sendShared()", "SharedFrames", frames);
    this.checkCanSend();
    if (this.sendingFragmented) {
      frames.seal();
      (this.deferredEncoded ??= []).push(frames.bytes());
    } else this.openWriter().sharedFrames(frames);
  }

  /** Queue a ping (payload at most 125 bytes). */
  ping(payload: Uint8Array = EMPTY): void {
    this.sendControl(Opcode.PING, payload);
  }

  /** Queue an unsolicited pong, or answer a ping by hand when autoPong is off. */
  pong(payload: Uint8Array = EMPTY): void {
    this.sendControl(Opcode.PONG, payload);
  }

  /**
   * Start (or, after receiving one with autoClose off, answer) the close
   * handshake. Returns false when a close frame was already sent. 1005 and
   * 1006 are never sent: omit the code for an empty close frame.
   */
  close(code?: number, reason = ""): boolean {
    if (this.sentClose !== null || this.transportEnded) return false;
    if (this.failureClose !== null) {
      // The connection failed: its close frame carries the error's code, whatever was asked.
      encodeClosePayload(code, reason);
      this.queueFailureClose();
      return true;
    }
    const payload = encodeClosePayload(code, reason);
    this.sentClose = new CloseFrame(code ?? CloseCode.NO_STATUS, reason);
    this.openWriter().close(payload);
    return true;
  }

  private queueFailureClose(): void {
    const frame = this.failureClose!;
    this.failureClose = null;
    this.writeClose(frame);
  }

  private writeClose(frame: CloseFrame): void {
    this.sentClose = frame;
    this.openWriter().close(encodeClosePayload(frame.code === CloseCode.NO_STATUS ? undefined : frame.code, frame.reason));
  }

  private sendControl(opcode: number, payload: Uint8Array): void {
    if (!(payload instanceof Uint8Array)) throw invalidData(opcode === Opcode.PING ? "ping()" : "pong()", "a Uint8Array", payload);
    this.checkCanSend();
    if (payload.length > MAX_CONTROL_PAYLOAD) {
      throw new UsageError("CONTROL_TOO_LONG", `control payload is ${payload.length} bytes, at most 125 fit`);
    }
    this.openWriter().frame(true, 0, opcode, payload);
  }

  private checkCanSend(): void {
    if (this.sentClose !== null || this.transportEnded) {
      throw new ConnectionClosedError(this.sentClose?.code ?? this.closeCode, this.sentClose?.reason ?? "", "cannot send after close");
    }
  }

  private checkCanSendData(): void {
    this.checkCanSend();
    if (this.sendingFragmented) throw new UsageError("FRAGMENTED_MESSAGE_IN_PROGRESS", "finish the fragmented message first");
  }

  /**
   * Chunks to write to the transport, in order; the queue is emptied. After
   * a violation, the close frame answering it is queued here, behind
   * everything sent since (see {@link receive}).
   */
  output(): Uint8Array[] {
    if (this.failureClose !== null) this.queueFailureClose();
    return this.writer === null ? [] : this.writer.take();
  }

  /** Bytes queued for {@link output} (a pending failure's close frame included). */
  get outputBytes(): number {
    const queued = this.writer === null ? 0 : this.writer.queuedBytes;
    // A failure's close frame: a 2-byte code, masked by a client.
    return this.failureClose === null ? queued : queued + headerSize(2, this.maskKeys !== null) + 2;
  }
}

/** Throws UsageError `INVALID_FRAGMENT_SIZE` unless `size` is an integer >= 1. */
export function checkFragmentSize(size: number): void {
  if (!Number.isSafeInteger(size) || size < 1) {
    throw new UsageError("INVALID_FRAGMENT_SIZE", `fragmentSize must be an integer >= 1, got ${String(size)}`);
  }
}

/** What an extension's decoder threw, as the error that fails the connection. */
function decodeFailure(error: unknown): ProtocolError {
  return error instanceof ProtocolError ? error : new ProtocolError("INVALID_COMPRESSED_DATA", String(error));
}

const encoder = new TextEncoder();
function toBytes(payload: Uint8Array | string): Uint8Array {
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}
