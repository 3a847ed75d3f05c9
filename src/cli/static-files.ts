/**
 * Static files for `wsx serve --static DIR`: GET and HEAD of the files under
 * one directory, and nothing outside it. A path is refused when it cannot
 * be decoded, holds a NUL or a backslash, or has a segment starting with a
 * dot (so no `..`, and no `.git` or `.env` either); what it names must
 * still lie inside the directory once symbolic links are resolved.
 */
import { createReadStream, realpathSync, statSync } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { usageError } from "./exit.js";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".htm": "text/html; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".ico": "image/x-icon",
  ".wasm": "application/wasm",
};

/** The content type a file is served with. */
export function contentType(path: string): string {
  return TYPES[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** The real path of the directory to serve; a usage error when it is not one. */
export function staticRoot(dir: string): string {
  let root: string;
  try {
    root = realpathSync(resolve(dir));
  } catch {
    throw usageError(`--static: no such directory: ${dir}`);
  }
  if (!statSync(root).isDirectory()) throw usageError(`--static: not a directory: ${dir}`);
  return root;
}

/** Segments of a request path, or null when the path must be refused. */
export function safeSegments(pathname: string): string[] | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (!decoded.startsWith("/") || decoded.includes("\0") || decoded.includes("\\")) return null;
  const segments = decoded.split("/").filter((segment) => segment !== "");
  return segments.some((segment) => segment.startsWith(".")) ? null : segments;
}

function inside(root: string, path: string): boolean {
  return path === root || path.startsWith(root + sep);
}

function plain(response: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { "Content-Type": "text/plain; charset=utf-8", "Content-Length": Buffer.byteLength(text), ...headers });
  response.end(text);
}

/** Answer `request` from the files under `root` (a real path from {@link staticRoot}). */
export async function serveStatic(root: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== "GET" && request.method !== "HEAD") return plain(response, 405, "method not allowed\n", { Allow: "GET, HEAD" });
  const url = new URL(request.url ?? "/", "http://localhost");
  const segments = safeSegments(url.pathname);
  if (segments === null) return plain(response, 404, "not found\n");
  let path = join(root, ...segments);
  try {
    let info = await stat(path);
    if (info.isDirectory()) {
      // Relative links in an index page resolve against the directory only with the trailing slash.
      if (!url.pathname.endsWith("/")) return plain(response, 301, "moved\n", { Location: `${url.pathname}/${url.search}` });
      path = join(path, "index.html");
      info = await stat(path);
    }
    if (!info.isFile() || !inside(root, await realpath(path))) return plain(response, 404, "not found\n");
    response.writeHead(200, {
      "Content-Type": contentType(path),
      "Content-Length": info.size,
      "Cache-Control": "no-cache",
      "X-Content-Type-Options": "nosniff",
    });
    if (request.method === "HEAD") {
      response.end();
      return;
    }
    const stream = createReadStream(path);
    stream.on("error", () => response.destroy());
    stream.pipe(response);
  } catch {
    plain(response, 404, "not found\n");
  }
}
