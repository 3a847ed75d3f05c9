/**
 * ASCII comparisons for HTTP names and tokens, which are ASCII by grammar:
 * they allocate nothing (no lower-cased copies), so the handshake path can
 * use them on every request. Internal to the core (not exported by wsx/core).
 */

/** Whether `text` at `from` holds `other`, ASCII letters compared without case. */
export function equalsIgnoringAsciiCase(text: string, from: number, other: string): boolean {
  for (let i = 0; i < other.length; i++) {
    let a = text.charCodeAt(from + i);
    let b = other.charCodeAt(i);
    if (a >= 0x41 && a <= 0x5a) a += 0x20;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (a !== b) return false;
  }
  return true;
}

/** Whether every character of `text` is ASCII (below 0x80). */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) >= 0x80) return false;
  return true;
}
