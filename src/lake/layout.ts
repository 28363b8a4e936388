/**
 * Folder layout of the data lake, relative to its root (a local folder or, later, an object-store
 * bucket prefix):
 *
 * - raw events of a source: `<source>/dt=YYYY-MM-DD/hour=HH/` ({@link eventsPrefix})
 * - dead letters of a source: `errors/<source>/dt=YYYY-MM-DD/hour=HH/` ({@link errorsPrefix}); `errors/`
 *   is the Firehose error-output prefix, so a source may not be named `errors` (see
 *   {@link LakeSourceNameError})
 *
 * `dt`/`hour` are the UTC date and hour of the ARRIVAL time (`received_at`), like Firehose's
 * arrival-time prefixes. `<source>` is the stream source name as one folder segment, encoded by
 * {@link encodeSegment}.
 */

/** First folder of the dead-letter partitions (the Firehose error prefix). */
export const ERRORS_PREFIX = 'errors';

/** Folder segments longer than this (bytes, after encoding) are rejected: the usual file-name limit. */
export const MAX_SEGMENT_BYTES = 255;

/**
 * A source whose name cannot be a lake folder: it would land on the `errors/` prefix of the dead
 * letters, or it is empty or too long. Not retryable: the source must be renamed.
 */
export class LakeSourceNameError extends Error {
  constructor(
    /** The offending source name. */
    readonly source: string,
    /** Why it cannot be used. */
    readonly problem: string,
  ) {
    super(`Lake: source ${JSON.stringify(source)} ${problem}`);
    this.name = 'LakeSourceNameError';
  }
}

const SAFE_BYTE = /^[A-Za-z0-9._-]$/;

/**
 * Encodes `value` (a source name) as one folder segment, like Hive escapes partition values: every
 * UTF-8 byte outside `[A-Za-z0-9._-]` becomes `%XX` (upper-case hex), and so does a leading `.` or `_`
 * (hidden files for pyarrow, Spark and Hadoop; also keeps `.` and `..` out of paths). The result has
 * no `/` and no `=`, so it can never be mistaken for a path separator or a Hive `key=value` folder.
 * Injective; inverted by {@link decodeSegment}.
 * @example encodeSegment('plant 1/line:2') === 'plant%201%2Fline%3A2'
 * @example encodeSegment('.hidden') === '%2Ehidden'
 */
export function encodeSegment(value: string): string {
  let out = '';
  const bytes = Buffer.from(value, 'utf8');
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const ch = String.fromCharCode(b);
    const leadingHidden = i === 0 && (ch === '.' || ch === '_');
    out += b < 0x80 && SAFE_BYTE.test(ch) && !leadingHidden ? ch : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Inverse of {@link encodeSegment} (e.g. to turn a folder name back into a source name). */
export function decodeSegment(segment: string): string {
  return decodeURIComponent(segment);
}

/**
 * The folder segment of `source`.
 * @throws LakeSourceNameError when the source is empty, its encoded name exceeds
 *   {@link MAX_SEGMENT_BYTES}, or it is `errors` (any letter case, since case-insensitive file systems
 *   fold it): its raw events would be written into the dead-letter prefix.
 */
export function sourceSegment(source: string): string {
  const segment = checkedSegment(source);
  if (segment.toLowerCase() === ERRORS_PREFIX) {
    throw new LakeSourceNameError(
      source,
      `collides with the lake's dead-letter prefix "${ERRORS_PREFIX}/": its raw events cannot be exported. ` +
        'Rename the source (the MQTT/Kafka stream configuration) to anything else, e.g. "errors-feed".',
    );
  }
  return segment;
}

function checkedSegment(source: string): string {
  if (source === '') throw new LakeSourceNameError(source, 'is empty; give the stream a source name');
  const segment = encodeSegment(source);
  if (segment.length > MAX_SEGMENT_BYTES) {
    throw new LakeSourceNameError(
      source,
      `is ${segment.length} bytes as a folder name (max ${MAX_SEGMENT_BYTES}); use a shorter source name`,
    );
  }
  return segment;
}

/** `dt=YYYY-MM-DD/hour=HH` of an hour start (UTC). */
export function hourPrefix(hour: Date): string {
  const iso = hour.toISOString();
  return `dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}`;
}

/**
 * Partition of the raw events of `source` in the hour starting at `hour`: `<source>/dt=…/hour=…`.
 * @throws LakeSourceNameError see {@link sourceSegment}
 */
export function eventsPrefix(source: string, hour: Date): string {
  return `${sourceSegment(source)}/${hourPrefix(hour)}`;
}

/**
 * Partition of the dead letters of `source` in the hour starting at `hour`: `errors/<source>/dt=…/hour=…`.
 * Any non-empty source is allowed here (also one named `errors`: `errors/errors/…`).
 * @throws LakeSourceNameError when the source is empty or too long
 */
export function errorsPrefix(source: string, hour: Date): string {
  return `${ERRORS_PREFIX}/${checkedSegment(source)}/${hourPrefix(hour)}`;
}
