/** Type declarations for the untyped compression codec packages used by src/ingest/kafka-codecs.ts. */
declare module 'kafkajs-snappy' {
  /** Returns the kafkajs codec (`compress(encoder)`, `decompress(buffer)`). */
  const SnappyCodec: () => {
    compress(encoder: { buffer: Buffer }): Promise<Buffer>;
    decompress(buffer: Buffer): Promise<Buffer>;
  };
  export default SnappyCodec;
}

declare module 'lz4js' {
  /** Decompresses one LZ4 frame. @throws Error on a bad magic number, descriptor or block size. */
  export function decompress(src: Uint8Array, maxSize?: number): Uint8Array | number[];
  const lz4: { decompress: typeof decompress };
  export default lz4;
}
