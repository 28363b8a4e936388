/**
 * Generic HTTP helpers with error classification, shared by every pipeline that reads from or posts to
 * an HTTP endpoint (launches, notifications, later weather/events).
 *
 * Retryability is decided HERE, at the source, and carried by the error classes below:
 * - retryable: connection refused/reset, timeouts, DNS failures ({@link NetworkError}); HTTP 5xx, 429 and
 *   408 ({@link HttpStatusError} with `retryable: true`);
 * - non-retryable: unparsable URL ({@link InvalidUrlError}), unsupported scheme
 *   ({@link UnsupportedSchemeError}), other 4xx such as 404 ({@link HttpStatusError}), missing local file.
 *
 * {@link toApplicationFailure} maps them to Temporal `ApplicationFailure`s at the activity boundary.
 */
import fs from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { ApplicationFailure } from '@temporalio/common';

/** Per-request timeout of the helpers below, in milliseconds. @default 30000 */
export const DEFAULT_HTTP_TIMEOUT_MS = 30_000;

/** Node/undici error codes that mean "the network failed, trying again may work". */
const RETRYABLE_NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Base class of every classified error here: a Temporal failure `type` and whether to retry. */
export abstract class ClassifiedError extends Error {
  /** Failure type used for the `ApplicationFailure` (e.g. `HttpNotFound`, `InvalidUrl`). */
  abstract readonly type: string;
  /** True when retrying the same call may succeed. */
  abstract readonly retryable: boolean;
}

/** The URL string could not be parsed at all (e.g. `not a url`). Never retryable. */
export class InvalidUrlError extends ClassifiedError {
  readonly type = 'InvalidUrl';
  readonly retryable = false;
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`Invalid URL ${JSON.stringify(url)}: ${reason}`);
    this.name = 'InvalidUrlError';
  }
}

/** The URL parsed but its scheme is not one we can fetch (e.g. `htp:/bad`, `ftp://…`). Never retryable. */
export class UnsupportedSchemeError extends ClassifiedError {
  readonly type = 'UnsupportedScheme';
  readonly retryable = false;
  constructor(
    readonly url: string,
    readonly scheme: string,
    readonly allowed: readonly string[],
  ) {
    super(`Unsupported URL scheme "${scheme}" in ${JSON.stringify(url)} (allowed: ${allowed.join(', ')})`);
    this.name = 'UnsupportedSchemeError';
  }
}

/**
 * The server answered with a non-2xx status. Retryable for 5xx, 429 (Too Many Requests) and 408
 * (Request Timeout); every other 4xx is permanent.
 */
export class HttpStatusError extends ClassifiedError {
  readonly type: string;
  readonly retryable: boolean;
  constructor(
    readonly url: string,
    readonly status: number,
    readonly statusText: string,
    readonly method: string = 'GET',
  ) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ''} for ${method} ${url}`);
    this.name = 'HttpStatusError';
    this.retryable = status >= 500 || status === 429 || status === 408;
    this.type = httpStatusType(status);
  }
}

/** Connection refused/reset, DNS failure, timeout… Always retryable. */
export class NetworkError extends ClassifiedError {
  readonly type: string;
  readonly retryable = true;
  constructor(
    readonly url: string,
    /** Node/undici error code (`ECONNREFUSED`, `ENOTFOUND`, `TIMEOUT`, …) or `UNKNOWN`. */
    readonly code: string,
    readonly detail: string,
  ) {
    super(`Network error (${code}) for ${url}: ${detail}`);
    this.name = 'NetworkError';
    this.type = code === 'TIMEOUT' ? 'HttpTimeout' : 'NetworkError';
  }
}

/** A `file://` source does not exist or cannot be read. Not retryable. */
export class FileSourceError extends ClassifiedError {
  readonly type = 'FileSourceError';
  readonly retryable = false;
  constructor(
    readonly url: string,
    readonly code: string,
    readonly detail: string,
  ) {
    super(`Cannot read ${url} (${code}): ${detail}`);
    this.name = 'FileSourceError';
  }
}

/** The response body exceeded the configured size bound. Not retryable. */
export class ResponseTooLargeError extends ClassifiedError {
  readonly type = 'ResponseTooLarge';
  readonly retryable = false;
  constructor(
    readonly url: string,
    readonly maxBytes: number,
  ) {
    super(`Response of ${url} is larger than ${maxBytes} bytes`);
    this.name = 'ResponseTooLargeError';
  }
}

/** `ApplicationFailure` type for an HTTP status: `HttpNotFound`, `HttpServerError`, … */
export function httpStatusType(status: number): string {
  if (status === 404) return 'HttpNotFound';
  if (status === 410) return 'HttpGone';
  if (status === 401 || status === 403) return 'HttpForbidden';
  if (status === 429) return 'HttpTooManyRequests';
  if (status === 408) return 'HttpTimeout';
  if (status >= 500) return 'HttpServerError';
  if (status >= 400) return 'HttpClientError';
  return 'HttpUnexpectedStatus';
}

/**
 * Parses `raw` and checks its scheme.
 * @param allowed schemes accepted, with the trailing colon. @default ['http:', 'https:']
 * @throws {InvalidUrlError} when `raw` is not a URL
 * @throws {UnsupportedSchemeError} when the scheme is not in `allowed`
 */
export function parseUrl(raw: string, allowed: readonly string[] = ['http:', 'https:']): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (e) {
    throw new InvalidUrlError(raw, e instanceof Error ? e.message : String(e));
  }
  if (!allowed.includes(url.protocol)) throw new UnsupportedSchemeError(raw, url.protocol, allowed);
  if ((url.protocol === 'http:' || url.protocol === 'https:') && url.hostname === '') {
    throw new InvalidUrlError(raw, 'no host');
  }
  return url;
}

/**
 * Turns anything thrown by `fetch` (undici) into a {@link ClassifiedError}. Undici reports network
 * failures as `TypeError("fetch failed")` whose `cause` carries the Node error code; aborts by
 * `AbortSignal.timeout` surface as `TimeoutError`/`AbortError`.
 */
export function classifyFetchError(err: unknown, url: string): ClassifiedError {
  if (err instanceof ClassifiedError) return err;
  const e = err as { name?: string; message?: string; code?: string; cause?: unknown } | undefined;
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return new NetworkError(url, 'TIMEOUT', e.message ?? 'aborted');
  const codes: string[] = [];
  const messages: string[] = [];
  let cur: unknown = err;
  for (let depth = 0; cur && typeof cur === 'object' && depth < 5; depth++) {
    const c = cur as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
    if (typeof c.code === 'string') codes.push(c.code);
    if (typeof c.message === 'string' && c.message) messages.push(c.message);
    // AggregateError (happy eyeballs: several addresses refused)
    if (Array.isArray(c.errors)) {
      for (const inner of c.errors as Array<{ code?: unknown }>) if (typeof inner?.code === 'string') codes.push(inner.code);
    }
    cur = c.cause;
  }
  const detail = messages.join(': ') || String(err);
  const code = codes.find((c) => RETRYABLE_NETWORK_CODES.has(c));
  if (code) return new NetworkError(url, code, detail);
  if (/unknown scheme|not supported/i.test(detail)) {
    let scheme = '?';
    try {
      scheme = new URL(url).protocol;
    } catch {
      /* keep '?' */
    }
    return new UnsupportedSchemeError(url, scheme, ['http:', 'https:']);
  }
  if (/invalid url/i.test(detail)) return new InvalidUrlError(url, detail);
  // The Fetch standard refuses some ports outright ("bad port": 1, 6000, …); retrying cannot help.
  if (/bad port/i.test(detail)) return new InvalidUrlError(url, `port refused by fetch's bad-port list (${detail})`);
  // Unknown transport failure ("other side closed", "terminated"…): treat as transient.
  return new NetworkError(url, codes[0] ?? 'UNKNOWN', detail);
}

/** Options shared by the request helpers. */
export interface RequestOptions {
  /** `fetch` implementation (tests, proxies). @default globalThis.fetch */
  fetchImpl?: typeof fetch;
  /** Per-request timeout in milliseconds (whole request, headers and body). @default {@link DEFAULT_HTTP_TIMEOUT_MS} */
  timeoutMs?: number;
  /** Extra request headers. */
  headers?: Record<string, string>;
}

/**
 * GET `url` (http/https) and return the response when its status is 2xx. The caller consumes the body
 * within the timeout.
 * @throws {InvalidUrlError | UnsupportedSchemeError | HttpStatusError | NetworkError}
 */
export async function httpGet(url: string, opts: RequestOptions = {}): Promise<Response> {
  parseUrl(url);
  const fetchImpl = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: 'GET',
      headers: { 'user-agent': 'iot-pipelines/0.1', ...opts.headers },
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS),
      redirect: 'follow',
    });
  } catch (e) {
    throw classifyFetchError(e, url);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => undefined);
    throw new HttpStatusError(url, res.status, res.statusText, 'GET');
  }
  return res;
}

/**
 * Reads a text document from `http(s)://` or `file://`.
 * @throws {InvalidUrlError | UnsupportedSchemeError | HttpStatusError | NetworkError | FileSourceError}
 */
export async function readText(url: string, opts: RequestOptions = {}): Promise<string> {
  const parsed = parseUrl(url, ['http:', 'https:', 'file:']);
  if (parsed.protocol === 'file:') {
    try {
      return await fs.readFile(fileURLToPath(parsed), 'utf8');
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      throw new FileSourceError(url, err.code ?? 'UNKNOWN', err.message);
    }
  }
  const res = await httpGet(url, opts);
  try {
    return await res.text();
  } catch (e) {
    throw classifyFetchError(e, url);
  }
}

/**
 * POSTs `body` as JSON. Resolves on 2xx (response body discarded).
 * @throws {InvalidUrlError | UnsupportedSchemeError | HttpStatusError | NetworkError}
 */
export async function postJson(url: string, body: unknown, opts: RequestOptions = {}): Promise<{ status: number }> {
  parseUrl(url);
  const fetchImpl = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'iot-pipelines/0.1', ...opts.headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS),
    });
  } catch (e) {
    throw classifyFetchError(e, url);
  }
  await res.body?.cancel().catch(() => undefined);
  if (!res.ok) throw new HttpStatusError(url, res.status, res.statusText, 'POST');
  return { status: res.status };
}

/**
 * Activity-boundary mapping: a {@link ClassifiedError} becomes an `ApplicationFailure` of the same
 * `type`, non-retryable when the error says so, with its context fields as details. Anything else is
 * returned unchanged (Temporal retries unknown errors under the activity's retry policy).
 */
export function toApplicationFailure(err: unknown): unknown {
  if (err instanceof ClassifiedError) {
    const { name: _n, message: _m, stack: _s, ...context } = err as ClassifiedError & Record<string, unknown>;
    return ApplicationFailure.create({
      type: err.type,
      message: err.message,
      nonRetryable: !err.retryable,
      details: [context],
      cause: err,
    });
  }
  return err;
}

/** Runs `fn` and rethrows its error through {@link toApplicationFailure}. */
export async function atActivityBoundary<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw toApplicationFailure(e);
  }
}
