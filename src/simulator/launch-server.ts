/**
 * Local stand-in for the Launch Library 2 API and its image CDN, used by tests, the main job (offline
 * mode) and the benchmark. It serves a REAL captured `launch/upcoming` snapshot (data/ll2-launches-upcoming)
 * at `/2.0.0/launch/upcoming/` with every launch `image` URL rewritten to point at this server
 * (`http://127.0.0.1:<port>/media/<original host>/<original path>`), and answers those with a generated
 * image.
 *
 * The images are NOT the real pictures: we have no real image bytes offline, so each image is a small
 * valid PNG made in code (16×16, one colour derived from the path). The served bytes are identical for
 * the same path, so downloads are reproducible.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { ROOT_DIR } from '../config/env';

/** The two real snapshots shipped with the repository (see their SOURCE.md). */
export const LAUNCH_SNAPSHOTS = {
  '2020-12-19': path.join(ROOT_DIR, 'data', 'll2-launches-upcoming', 'launches_2020-12-19_BasPH.json'),
  '2024-03-30': path.join(ROOT_DIR, 'data', 'll2-launches-upcoming', 'launches_2024-03-30_Athanator.json'),
} as const;

/** Path the page is served at (the trailing-slash-less form is served too). */
export const UPCOMING_PATH = '/2.0.0/launch/upcoming/';

/** A fault injected for image requests whose path contains `match` (or matches it, for a RegExp). */
export interface ImageFault {
  match: string | RegExp;
  /** HTTP status to answer, or `'reset'` to destroy the socket without answering. */
  status: number | 'reset';
  /** Fail only the first `times` matching requests, then serve the image. @default Infinity */
  times?: number;
}

/** Options of {@link startLaunchServer}. */
export interface LaunchServerOptions {
  /** JSON snapshot to serve (e.g. `LAUNCH_SNAPSHOTS['2024-03-30']`). */
  snapshotFile: string;
  /** @default 0 (an ephemeral port) */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** Faults for selected images. */
  imageFaults?: ImageFault[];
  /**
   * Replace the `image` of selected launches (by launch id) with this value after the rewrite, e.g.
   * `null` (no image), `'htp:/bad'` (invalid URL) or `'http://127.0.0.1:1/x.jpg'` (unreachable host).
   */
  imageOverrides?: Record<string, string | null>;
  /** Delay before answering each image request, in milliseconds (benchmarks). @default 0 */
  imageDelayMs?: number;
}

/** One request for an image, in arrival order. */
export interface ImageRequest {
  /** Request path, e.g. `/media/spacelaunchnow-prod-east.nyc3.digitaloceanspaces.com/media/images/x.jpg`. */
  path: string;
  /** Status answered (0 for a reset). */
  status: number;
}

/** A running server. */
export interface LaunchServer {
  /** URL of the page: `http://127.0.0.1:<port>/2.0.0/launch/upcoming/`. */
  url: string;
  /** `http://127.0.0.1:<port>`. */
  baseUrl: string;
  /** The rewritten document as served (launch `image` fields point here). */
  document: { count: number; results: Array<{ id: string; name: string; image: string | null } & Record<string, unknown>> } & Record<
    string,
    unknown
  >;
  /** Every image request so far. */
  imageRequests: ImageRequest[];
  /** Number of requests of the page so far. */
  pageRequests: number;
  close(): Promise<void>;
}

// --- minimal PNG encoder (RFC 2083): signature, IHDR, IDAT (zlib), IEND; CRC-32 per chunk ---

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

/** A valid `size`×`size` RGB PNG of one colour. */
export function solidPng(rgb: readonly [number, number, number], size = 16): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const row = Buffer.alloc(1 + size * 3); // filter byte 0, then pixels
  for (let x = 0; x < size; x++) row.set(rgb, 1 + x * 3);
  const raw = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', zlib.deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

function imageFor(p: string): Buffer {
  const h = createHash('sha256').update(p).digest();
  return solidPng([h[0]!, h[1]!, h[2]!]);
}

/**
 * Starts the server on loopback.
 * @throws when the snapshot cannot be read or parsed, or the port is taken
 */
export async function startLaunchServer(opts: LaunchServerOptions): Promise<LaunchServer> {
  const original = JSON.parse(fs.readFileSync(opts.snapshotFile, 'utf8')) as LaunchServer['document'];
  const host = opts.host ?? '127.0.0.1';
  const faults = (opts.imageFaults ?? []).map((f) => ({ ...f, left: f.times ?? Infinity }));
  const imageRequests: ImageRequest[] = [];
  let pageRequests = 0;
  let body = '';

  const server = http.createServer((req, res) => {
    const reqPath = (req.url ?? '/').split('?')[0]!;
    if (req.method === 'GET' && (reqPath === UPCOMING_PATH || reqPath === UPCOMING_PATH.slice(0, -1))) {
      pageRequests++;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    if (req.method === 'GET' && reqPath.startsWith('/media/')) {
      const fault = faults.find((f) => f.left > 0 && (typeof f.match === 'string' ? reqPath.includes(f.match) : f.match.test(reqPath)));
      const answer = () => {
        if (fault) {
          fault.left--;
          if (fault.status === 'reset') {
            imageRequests.push({ path: reqPath, status: 0 });
            req.socket.destroy();
            return;
          }
          imageRequests.push({ path: reqPath, status: fault.status });
          res.writeHead(fault.status, { 'content-type': 'text/plain' });
          res.end(`simulated ${fault.status}\n`);
          return;
        }
        const png = imageFor(reqPath);
        imageRequests.push({ path: reqPath, status: 200 });
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
        res.end(png);
      };
      if (opts.imageDelayMs) setTimeout(answer, opts.imageDelayMs);
      else answer();
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found\n');
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${host}:${port}`;

  const document = structuredClone(original);
  for (const r of document.results) {
    if (typeof r.image === 'string') {
      try {
        const u = new URL(r.image);
        r.image = `${baseUrl}/media/${u.host}${u.pathname}`;
      } catch {
        /* leave unparsable URLs untouched */
      }
    }
    if (opts.imageOverrides && Object.hasOwn(opts.imageOverrides, r.id)) r.image = opts.imageOverrides[r.id] ?? null;
  }
  body = JSON.stringify(document);

  return {
    url: `${baseUrl}${UPCOMING_PATH}`,
    baseUrl,
    document,
    imageRequests,
    get pageRequests() {
      return pageRequests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
