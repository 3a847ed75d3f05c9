/**
 * Socket reads into buffers wsx picks instead of node's own: a large
 * message's payload straight into the buffer collecting it (no copy to put
 * its pieces together), everything else into one scratch buffer shared by
 * all sockets and copied out at its size. This also spares, per read, node's
 * fresh buffer (64 KiB allocated, then cut to size) and the stream
 * machinery a 'data' event goes through.
 *
 * node:net offers this as the `onread` option of the sockets it creates for
 * the caller. The sockets a net.Server accepts carry the same fields and
 * handle method, under symbols node does not export: they are looked up by
 * their names once, and where any is missing (another runtime, a later
 * node) sockets keep 'data' events. Plain TCP and pipe sockets only: a TLS
 * socket's reads are its decrypted stream.
 *
 * A socket can change hands: the server reads a request head this way, and
 * the connection it becomes takes the socket's reads over from there.
 */
import { Socket } from "node:net";

/** Where reads go and who gets them, for every socket of one kind of owner. */
export interface DirectReader {
  /** A place for `socket`'s next read (null: anywhere). Bytes read there come back as a view of it. */
  target(socket: Socket): Uint8Array | null;
  /** Bytes read from `socket`, in order: a view of its last target, or a copy that is the reader's to keep. */
  read(socket: Socket, bytes: Uint8Array): void;
}

/** The scratch buffer: one read's worst case, as node's own reads use. */
const SCRATCH_SIZE = 64 * 1024;
let scratch: Buffer | null = null;

interface NodeInternals {
  /** The buffer the next read goes into. */
  buffer: symbol;
  /** Called with the byte count after each read into it. */
  callback: symbol;
  /** Called after each read for the buffer of the next. */
  generator: symbol;
}
let internals: NodeInternals | null | undefined;
/**
 * The read callbacks installed by {@link directReads}: a socket reading
 * through one of them can change to another. Weak: an installer (one per
 * server) goes with its owner.
 */
const ours = new WeakSet<object>();
/**
 * The socket just read. node calls the read callback as a method of the
 * socket and the buffer generator right after it as a plain function; the
 * callback may have handed the socket to another reader meanwhile, whose
 * generator then runs: shared by every reader.
 */
let reading: Socket | null = null;

/** node's symbols for `onread`, looked up on the first socket (null when this runtime has none). */
function findInternals(socket: Socket): NodeInternals | null {
  if (internals !== undefined) return internals;
  const byName = new Map<string | undefined, symbol>();
  for (const symbol of Object.getOwnPropertySymbols(socket)) byName.set(symbol.description, symbol);
  const buffer = byName.get("kBuffer");
  const callback = byName.get("kBufferCb");
  const generator = byName.get("kBufferGen");
  internals = buffer && callback && generator ? { buffer, callback, generator } : null;
  return internals;
}

/** Whether the socket reads the way node does by default: the three fields unset (null), as every node:net socket has them. */
function readsByDefault(socket: Socket, symbols: NodeInternals): boolean {
  const record = socket as unknown as Record<symbol, unknown>;
  return record[symbols.buffer] === null && record[symbols.callback] === null && record[symbols.generator] === null;
}

/** Whether another reader of this module reads the socket already. */
function readByUs(socket: Socket, symbols: NodeInternals): boolean {
  const callback = (socket as unknown as Record<symbol, unknown>)[symbols.callback];
  return typeof callback === "function" && ours.has(callback);
}

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * An installer for `reader`, made once per kind of owner. Called with a
 * socket, it has the socket's later reads go where the reader says and
 * returns the input the socket's stream had buffered (null if none), which
 * comes before them; input no longer comes through the stream ('data'
 * events). A socket that another installer made here reads already
 * changes to this reader (null: nothing buffered). It returns false, with
 * nothing changed, when the socket or the runtime does not allow it: keep
 * reading 'data' events then.
 */
export function directReads(reader: DirectReader): (socket: Socket) => Buffer | null | false {
  // Made once here, nothing per connection.
  function onRead(this: Socket, length: number, buffer: Uint8Array): void {
    reading = this;
    let bytes: Uint8Array;
    if (buffer === scratch) {
      // The scratch buffer is read into again next: the bytes move to memory of their own.
      bytes = Buffer.allocUnsafe(length);
      bytes.set(new Uint8Array(buffer.buffer, buffer.byteOffset, length));
    } else {
      bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, length);
    }
    reader.read(this, bytes);
  }
  function nextBuffer(): Uint8Array {
    const socket = reading;
    reading = null;
    return (socket === null || socket.destroyed ? null : reader.target(socket)) ?? scratch!;
  }
  ours.add(onRead);
  return (socket) => {
    const record = socket as unknown as Record<symbol, unknown>;
    if (internals != null && readByUs(socket, internals)) {
      // Handed over: the buffer being read into stays (it is the one the next read fills), the stream has nothing.
      record[internals.generator] = nextBuffer;
      record[internals.callback] = onRead;
      return null;
    }
    if (!(socket instanceof Socket) || (socket as { encrypted?: boolean }).encrypted === true) return false;
    const handle = (socket as unknown as { _handle: Partial<UserBufferHandle> | null })._handle;
    if (handle == null || typeof handle.useUserBuffer !== "function") return false;
    const name = (handle as object).constructor?.name;
    if (name !== "TCP" && name !== "Pipe") return false;
    const symbols = findInternals(socket);
    // A socket made with its own `onread` (or a runtime whose fields mean something else) is left alone.
    if (symbols === null || !readsByDefault(socket, symbols)) return false;
    // The buffer field names the one being read into (handed back to onRead): scratch first.
    record[symbols.buffer] = scratch ??= Buffer.allocUnsafeSlow(SCRATCH_SIZE);
    record[symbols.generator] = nextBuffer;
    record[symbols.callback] = onRead;
    handle.useUserBuffer(scratch);
    // A paused stream may still be reading into its buffer; node stops a paused reader's handle.
    if (socket.isPaused()) socket.pause();
    return socket.readableLength > 0 ? (socket.read() as Buffer) : null;
  };
}
