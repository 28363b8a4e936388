/**
 * Reads `metadata_props` (key/value strings) from ONNX model bytes. onnxruntime's JavaScript API does not
 * expose custom metadata, so this walks the top level of the protobuf message directly.
 *
 * Format: `ModelProto.metadata_props` is field 14, a repeated `StringStringEntryProto { string key = 1;
 * string value = 2; }` (https://github.com/onnx/onnx/blob/main/onnx/onnx.proto); wire format from
 * https://protobuf.dev/programming-guides/encoding/.
 */

const METADATA_PROPS_FIELD = 14;

/** Thrown when the bytes are not a well-formed protobuf message. */
export class ProtobufFormatError extends Error {
  override name = 'ProtobufFormatError';
}

function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufFormatError(`truncated varint at byte ${pos}`);
    const b = buf[pos++] as number;
    result += (b & 0x7f) * mul;
    if ((b & 0x80) === 0) return [result, pos];
    mul *= 128;
  }
  throw new ProtobufFormatError(`varint longer than 10 bytes at byte ${pos}`);
}

/** Calls `onField(fieldNumber, bytes)` for every length-delimited field of one message level; skips the rest. */
function walk(buf: Uint8Array, onField: (field: number, data: Uint8Array) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag % 8;
    pos = afterTag;
    if (wire === 0) pos = readVarint(buf, pos)[1];
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      const [len, start] = readVarint(buf, pos);
      if (start + len > buf.length) throw new ProtobufFormatError(`field ${field} runs past the end of the message`);
      onField(field, buf.subarray(start, start + len));
      pos = start + len;
    } else throw new ProtobufFormatError(`unsupported wire type ${wire} (field ${field}) at byte ${pos}`);
    if (pos > buf.length) throw new ProtobufFormatError('truncated message');
  }
}

/**
 * The `metadata_props` of an ONNX `ModelProto` as a plain object (later duplicates win).
 * @throws ProtobufFormatError when `model` is not a well-formed protobuf message.
 */
export function readOnnxMetadata(model: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  const decoder = new TextDecoder('utf-8', { fatal: false });
  walk(model, (field, data) => {
    if (field !== METADATA_PROPS_FIELD) return;
    let key = '';
    let value = '';
    walk(data, (f, d) => {
      if (f === 1) key = decoder.decode(d);
      else if (f === 2) value = decoder.decode(d);
    });
    out[key] = value;
  });
  return out;
}
