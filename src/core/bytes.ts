/** Joining byte pieces: reassembled payloads, inflated output, shared frames. */

/** Copy `pieces` one after another into `target` from `at`; returns the offset after the last. */
export function copyPieces(pieces: readonly Uint8Array[], target: Uint8Array, at = 0): number {
  for (const piece of pieces) {
    target.set(piece, at);
    at += piece.length;
  }
  return at;
}

/** One buffer with the pieces in order (`size` bytes in all): the piece itself when there is only one. */
export function joinPieces(pieces: readonly Uint8Array[], size: number, allocate: (size: number) => Uint8Array = (n) => new Uint8Array(n)): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const joined = allocate(size);
  copyPieces(pieces, joined);
  return joined;
}
