/**
 * The bytes one node puts on a Redis channel for each publish, and their
 * decoding on the other nodes. Version 1, little and fixed:
 *
 * | offset | size | field                                              |
 * | ------ | ---- | -------------------------------------------------- |
 * | 0      | 1    | format version, `1`                                |
 * | 1      | 1    | flags: bit 0 set = binary message, other bits zero |
 * | 2      | 8    | id of the publishing node (random per adapter)     |
 * | 10     | n    | the message payload (text as UTF-8)                |
 *
 * The node id lets a node skip its own publishes, which it has already
 * delivered locally. A change of layout gets a new version number, so a node
 * never misreads an envelope written by a newer one.
 */

/** The format version this module writes and reads. */
export const ENVELOPE_VERSION = 1;
/** Bytes of the node id. */
export const NODE_ID_LENGTH = 8;
/** Bytes before the payload. */
export const HEADER_LENGTH = 2 + NODE_ID_LENGTH;

const FLAG_BINARY = 0b0000_0001;
const KNOWN_FLAGS = FLAG_BINARY;
const NODE_ID_OFFSET = 2;

/** Wrap `payload` for the channel. One allocation: header and payload in one buffer. */
export function encodeEnvelope(nodeId: Buffer, payload: Uint8Array, binary: boolean): Buffer {
  const envelope = Buffer.allocUnsafe(HEADER_LENGTH + payload.length);
  envelope[0] = ENVELOPE_VERSION;
  envelope[1] = binary ? FLAG_BINARY : 0;
  nodeId.copy(envelope, NODE_ID_OFFSET, 0, NODE_ID_LENGTH);
  envelope.set(payload, HEADER_LENGTH);
  return envelope;
}

/** Why {@link checkEnvelope} refused an envelope, or `null` when it is well formed. */
export function checkEnvelope(envelope: Buffer): string | null {
  if (envelope.length < HEADER_LENGTH) return `${envelope.length} bytes, shorter than the ${HEADER_LENGTH}-byte header`;
  if (envelope[0] !== ENVELOPE_VERSION) return `unknown format version ${envelope[0]}`;
  if ((envelope[1]! & ~KNOWN_FLAGS) !== 0) return `unknown flags 0x${envelope[1]!.toString(16)}`;
  return null;
}

/** Whether a well-formed envelope carries a binary message. */
export function isBinaryEnvelope(envelope: Buffer): boolean {
  return (envelope[1]! & FLAG_BINARY) !== 0;
}

/** Whether a well-formed envelope was published by the node `nodeId`. Compares in place, no allocation. */
export function isFromNode(envelope: Buffer, nodeId: Buffer): boolean {
  return envelope.compare(nodeId, 0, NODE_ID_LENGTH, NODE_ID_OFFSET, HEADER_LENGTH) === 0;
}

/** The payload of a well-formed envelope: a view, not a copy. */
export function envelopePayload(envelope: Buffer): Buffer {
  return envelope.subarray(HEADER_LENGTH);
}
