/**
 * Activities of the rocket-launch pipeline (the seed Airflow DAG "download_rocket_launches"): fetch the
 * Launch Library 2 `launch/upcoming` JSON, download launch images, count them, notify.
 *
 * Format: LL2 API v2.0.0 `GET /2.0.0/launch/upcoming` — see `data/ll2-launches-upcoming/SOURCE.md`.
 * Only the fields this pipeline relies on are validated (`count`, `results[].id`, `.name`, `.image`);
 * everything else (mission, orbit, probability… which drift and may be null) is kept verbatim in the
 * stored raw file and ignored here.
 */
import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import type { Notifier } from '../notify/index';
import {
  atActivityBoundary,
  DEFAULT_HTTP_TIMEOUT_MS,
  httpGet,
  parseUrl,
  readText,
  ResponseTooLargeError,
  classifyFetchError,
} from './http';
import { createNotifyActivities, type NotifyActivities } from './notify';

/** Largest image accepted, in bytes. @default 50 MiB */
export const MAX_IMAGE_BYTES = 50 * 1024 * 1024;

/** Sub-folders of `outputDir`. */
export const LAUNCHES_SUBDIR = 'launches';
export const IMAGES_SUBDIR = 'images';

// ---------------------------------------------------------------------------------------------------
// Schema

/**
 * `image` is a URL string or null in API v2.0.0; later API versions (2.3.0) use an object with
 * `image_url`. Both are accepted and reduced to `string | null`.
 */
const imageField = z.union([z.string(), z.null(), z.object({ image_url: z.string().nullable() }).transform((o) => o.image_url)]);

const launchSchema = z.object({
  id: z.string().min(1),
  name: z.string(),
  image: imageField,
});

/** The part of an LL2 `launch/upcoming` page that this pipeline relies on. */
export const upcomingLaunchesSchema = z.object({
  count: z.number().int().nonnegative(),
  results: z.array(launchSchema),
});

/** Thrown when the JSON does not have the expected shape; not retryable. */
export class LaunchDataError extends Error {
  constructor(
    readonly url: string,
    /** One line per problem: `<path>: <what was wrong>`, e.g. `results[3].image: Invalid input: expected string, received number`. */
    readonly problems: readonly string[],
  ) {
    super(`Launch data from ${url} does not match the LL2 launch/upcoming schema:\n  ${problems.join('\n  ')}`);
    this.name = 'LaunchDataError';
  }
}

function formatPath(p: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const k of p) out += typeof k === 'number' ? `[${k}]` : out === '' ? String(k) : `.${String(k)}`;
  return out || '(root)';
}

/**
 * Parses and validates an LL2 `launch/upcoming` body.
 * @throws {LaunchDataError} on invalid JSON or a shape mismatch, naming each offending path
 */
export function parseUpcomingLaunches(text: string, url: string): z.infer<typeof upcomingLaunchesSchema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LaunchDataError(url, [
      `(root): not valid JSON (${e instanceof Error ? e.message : String(e)}); body starts with ${JSON.stringify(text.slice(0, 80))}`,
    ]);
  }
  const r = upcomingLaunchesSchema.safeParse(json);
  if (!r.success) {
    const problems = r.error.issues.slice(0, 20).map((i) => `${formatPath(i.path)}: ${i.message}`);
    if (r.error.issues.length > 20) problems.push(`… and ${r.error.issues.length - 20} more`);
    throw new LaunchDataError(url, problems);
  }
  return r.data;
}

// ---------------------------------------------------------------------------------------------------
// File names

/**
 * Safe, deterministic file name for an image URL: the URL's last path segment reduced to
 * `[A-Za-z0-9._-]` (at most 80 characters, no leading dot), a `-` and the first 10 hex digits of the
 * SHA-256 of the full URL (so two URLs with the same basename never overwrite each other), and the
 * original extension. E.g. `…/media/images/f9_on_lc-39a_2_image_20240330210508.jpg` →
 * `f9_on_lc-39a_2_image_20240330210508-1a2b3c4d5e.jpg`.
 * @throws {InvalidUrlError | UnsupportedSchemeError} when `imageUrl` is not an http(s) URL
 */
export function imageFileName(imageUrl: string): string {
  const url = parseUrl(imageUrl);
  const segments = url.pathname.split('/').filter(Boolean);
  let base = segments[segments.length - 1] ?? 'image';
  try {
    base = decodeURIComponent(base);
  } catch {
    /* keep encoded */
  }
  const extMatch = /\.([A-Za-z0-9]{1,5})$/.exec(base);
  const ext = extMatch ? `.${extMatch[1]!.toLowerCase()}` : '';
  const stem =
    (extMatch ? base.slice(0, -extMatch[0].length) : base)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .replace(/^[.]+/, '')
      .slice(0, 80) || 'image';
  const hash = createHash('sha256').update(url.href).digest('hex').slice(0, 10);
  return `${stem}-${hash}${ext}`;
}

// ---------------------------------------------------------------------------------------------------
// Activities

/** Input of `fetchLaunches`. */
export interface FetchLaunchesInput {
  /** `http(s)://` or `file://` URL of an LL2 `launch/upcoming` page. */
  url: string;
  /** Logical date of the run (`YYYY-MM-DD` or an ISO timestamp); names the stored raw file. */
  logicalDate: string;
}

/** One launch, reduced to what the workflow needs. */
export interface LaunchSummary {
  id: string;
  name: string;
  /** Image URL as published (not validated here), or null when the launch has no image. */
  imageUrl: string | null;
}

/** Small result of `fetchLaunches` (kept small: it is stored in workflow history). */
export interface FetchLaunchesResult {
  /** Number of launches on the fetched page. */
  count: number;
  /** `count` field of the API: all upcoming launches on the server (the page holds at most `limit`). */
  totalUpcoming: number;
  /** Absolute path of the stored raw JSON. */
  rawFile: string;
  launches: LaunchSummary[];
}

/** Input of `downloadImage`. */
export interface DownloadImageInput {
  /** Launch the image belongs to (first one when several share it); for logs and errors. */
  launchId: string;
  imageUrl: string;
}

/** Result of `downloadImage`. */
export interface DownloadImageResult {
  /** File name inside the images folder (see {@link imageFileName}). */
  file: string;
  /** Size of the file in bytes. */
  bytes: number;
  status: 'downloaded' | 'already-present';
}

/** Dependencies of {@link createLaunchActivities}. */
export interface LaunchActivityDeps {
  /** Folder receiving `launches/<logicalDate>.json` and `images/<file>`. Created on demand. */
  outputDir: string;
  notifier: Notifier;
  /** @default globalThis.fetch */
  fetchImpl?: typeof fetch;
  /** Per-request timeout in milliseconds. @default 30000 */
  timeoutMs?: number;
  /** @default {@link MAX_IMAGE_BYTES} */
  maxImageBytes?: number;
}

/** Activity functions of the launch pipeline. */
export interface LaunchActivities extends NotifyActivities {
  /**
   * Fetches the launch page, stores the raw body as `<outputDir>/launches/<logicalDate>.json`
   * (atomically) and returns a small summary.
   * @throws ApplicationFailure `InvalidLaunchData` / `InvalidLogicalDate` / `InvalidUrl` / `UnsupportedScheme` /
   *   `HttpNotFound` / `HttpClientError` / `FileSourceError` (non-retryable); `HttpServerError` /
   *   `HttpTooManyRequests` / `NetworkError` / `HttpTimeout` (retryable)
   */
  fetchLaunches(input: FetchLaunchesInput): Promise<FetchLaunchesResult>;
  /**
   * Downloads one image into `<outputDir>/images/` unless a file of that name is already there. Writes a
   * hidden temp file in the same folder, then renames it, so a crash never leaves a partial image.
   * @throws ApplicationFailure `InvalidUrl` / `UnsupportedScheme` / `HttpNotFound` / `HttpClientError` /
   *   `ResponseTooLarge` (non-retryable); `HttpServerError` / `NetworkError` / `HttpTimeout` (retryable)
   */
  downloadImage(input: DownloadImageInput): Promise<DownloadImageResult>;
  /** Number of image files in `<outputDir>/images/` (temp files excluded). */
  countLaunchImages(): Promise<number>;
}

const LOGICAL_DATE_RE = /^[0-9A-Za-z][0-9A-Za-z:._+-]{0,63}$/;

async function writeAtomic(file: string, data: string): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${randomUUID()}.part`);
  try {
    await fsp.writeFile(tmp, data);
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds the launch pipeline activities (including `notify`).
 * Wiring: `Worker.create({ activities: { ...createLaunchActivities({ outputDir, notifier: createNotifier({ webhookUrl: process.env.NOTIFY_WEBHOOK_URL }) }) } })`.
 */
export function createLaunchActivities(deps: LaunchActivityDeps): LaunchActivities {
  const launchesDir = path.join(deps.outputDir, LAUNCHES_SUBDIR);
  const imagesDir = path.join(deps.outputDir, IMAGES_SUBDIR);
  const timeoutMs = deps.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS;
  const maxBytes = deps.maxImageBytes ?? MAX_IMAGE_BYTES;

  async function fetchLaunches({ url, logicalDate }: FetchLaunchesInput): Promise<FetchLaunchesResult> {
    if (!LOGICAL_DATE_RE.test(logicalDate)) {
      throw ApplicationFailure.nonRetryable(
        `logicalDate ${JSON.stringify(logicalDate)} is not usable as a file name (expected e.g. 2024-03-30 or 2024-03-30T00:00:00Z)`,
        'InvalidLogicalDate',
      );
    }
    const text = await atActivityBoundary(() => readText(url, { fetchImpl: deps.fetchImpl, timeoutMs }));
    let parsed;
    try {
      parsed = parseUpcomingLaunches(text, url);
    } catch (e) {
      if (e instanceof LaunchDataError) {
        throw ApplicationFailure.create({
          type: 'InvalidLaunchData',
          message: e.message,
          nonRetryable: true,
          details: [{ url, problems: e.problems }],
        });
      }
      throw e;
    }
    await fsp.mkdir(launchesDir, { recursive: true });
    const rawFile = path.join(launchesDir, `${logicalDate}.json`);
    await writeAtomic(rawFile, text);
    return {
      count: parsed.results.length,
      totalUpcoming: parsed.count,
      rawFile,
      launches: parsed.results.map((r) => ({ id: r.id, name: r.name, imageUrl: r.image })),
    };
  }

  async function downloadImage({ imageUrl }: DownloadImageInput): Promise<DownloadImageResult> {
    return atActivityBoundary(async () => {
      const file = imageFileName(imageUrl);
      const target = path.join(imagesDir, file);
      const existing = await fsp.stat(target).catch(() => undefined);
      if (existing?.isFile()) return { file, bytes: existing.size, status: 'already-present' as const };

      await fsp.mkdir(imagesDir, { recursive: true });
      const res = await httpGet(imageUrl, { fetchImpl: deps.fetchImpl, timeoutMs });
      const tmp = path.join(imagesDir, `.${file}.${randomUUID()}.part`);
      let bytes = 0;
      const counter = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          bytes += chunk.length;
          if (bytes > maxBytes) cb(new ResponseTooLargeError(imageUrl, maxBytes));
          else cb(null, chunk);
        },
      });
      try {
        if (!res.body) throw classifyFetchError(new Error('response has no body'), imageUrl);
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), counter, fs.createWriteStream(tmp));
        await fsp.rename(tmp, target);
      } catch (e) {
        await fsp.rm(tmp, { force: true });
        // Local file-system errors (ENOSPC, EACCES…) are rethrown as-is; body-stream errors are network errors.
        if ((e as NodeJS.ErrnoException).syscall) throw e;
        throw classifyFetchError(e, imageUrl);
      }
      return { file, bytes, status: 'downloaded' as const };
    });
  }

  async function countLaunchImages(): Promise<number> {
    const entries = await fsp.readdir(imagesDir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    return entries.filter((e) => e.isFile() && !e.name.startsWith('.')).length;
  }

  return { fetchLaunches, downloadImage, countLaunchImages, ...createNotifyActivities({ notifier: deps.notifier }) };
}
