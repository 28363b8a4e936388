/**
 * Compression codecs for kafkajs, which itself decodes only gzip: batches compressed with Snappy, LZ4 or
 * Zstandard — what Java producers, Kafka Connect and many brokers' `compression.type` write — would
 * otherwise stop a consumer with "… compression not implemented". Registered once, process-wide, by
 * {@link registerKafkaCodecs} (called by `createKafka`).
 *
 * - Snappy: kafkajs-snappy (snappyjs; raw and xerial-framed blocks, as the Java client writes them).
 * - LZ4: lz4js, LZ4 frame format (KIP-57: the framing Kafka uses since 0.10), decompression only: the
 *   broker rejects batches lz4js compresses (test/kafka-compression.test.ts found it), so producing
 *   with LZ4 throws.
 * - Zstandard: fzstd, decompression only (consumers need nothing else); producing with zstd throws.
 */
import { decompress as zstdDecompress } from 'fzstd';
// kafkajs is CommonJS and builds its exports in a way Node cannot list for ESM: take them off the default.
import kafkajs from 'kafkajs';
import SnappyCodec from 'kafkajs-snappy';
import lz4 from 'lz4js';

/** What kafkajs calls on a codec (`src/protocol/message/compression` of kafkajs). */
interface Codec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const toBuffer = (a: Uint8Array | number[]) => (Buffer.isBuffer(a) ? a : Buffer.from(a as Uint8Array));

const lz4Codec: Codec = {
  compress: () => Promise.reject(new Error('Producing LZ4-compressed batches is not supported here; use gzip or snappy.')),
  decompress: (buffer) => Promise.resolve(toBuffer(lz4.decompress(buffer))),
};

const zstdCodec: Codec = {
  compress: () => Promise.reject(new Error('Producing Zstandard-compressed batches is not supported here; use gzip or snappy.')),
  decompress: (buffer) => Promise.resolve(toBuffer(zstdDecompress(buffer))),
};

let registered = false;

/** Makes every kafkajs client of this process read Snappy, LZ4 and Zstandard (and write Snappy). Idempotent. */
export function registerKafkaCodecs(): void {
  if (registered) return;
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  const codecs = CompressionCodecs as Record<number, () => Codec>;
  codecs[CompressionTypes.Snappy] = SnappyCodec;
  codecs[CompressionTypes.LZ4] = () => lz4Codec;
  codecs[CompressionTypes.ZSTD] = () => zstdCodec;
  registered = true;
}
