/**
 * Just enough of a Thrift compact-protocol reader to walk a Parquet footer: find the fields
 * it needs and skip the rest (https://github.com/apache/thrift/blob/master/doc/specs/thrift-compact-protocol.md).
 * Errors are plain `Error`s naming what is wrong with the bytes; the caller adds the file.
 */
// Thrift compact protocol type ids.
const T_BOOL_TRUE = 1;
const T_BOOL_FALSE = 2;
const T_BYTE = 3;
const T_I16 = 4;
const T_I32 = 5;
export const T_I64 = 6;
const T_DOUBLE = 7;
const T_BINARY = 8;
export const T_LIST = 9;
const T_SET = 10;
const T_MAP = 11;
export const T_STRUCT = 12;

/** Just enough of a Thrift compact-protocol reader to find fields and skip the rest. */
export class CompactReader {
  private pos = 0;
  constructor(private readonly buf: Uint8Array) {}

  /** Reads struct fields until STOP; `onField` returns true when it consumed the value. */
  readStruct(onField: (id: number, type: number) => boolean): void {
    let lastId = 0;
    for (;;) {
      const header = this.byte();
      if (header === 0) return;
      const type = header & 0x0f;
      const delta = header >> 4;
      const id = delta === 0 ? Number(this.zigzag()) : lastId + delta;
      lastId = id;
      if (!onField(id, type)) this.skip(type, false);
    }
  }

  /** Reads a list header and calls `onElement` once per element (which must consume it). */
  readList(expectedType: number, onElement: () => void): void {
    const { size, type } = this.listHeader();
    if (size > 0 && type !== expectedType) throw new Error(`Thrift list of type ${type}, expected ${expectedType}`);
    for (let i = 0; i < size; i++) onElement();
  }

  /** An i64 that must be a count or an offset: non-negative and a safe JS integer. */
  i64(): number {
    const value = this.zigzag();
    if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < 0n) throw new Error(`Parquet footer value ${value} is out of range for a count or an offset`);
    return Number(value);
  }

  private byte(): number {
    if (this.pos >= this.buf.length) throw new Error('Parquet footer ends early');
    return this.buf[this.pos++]!;
  }

  private varint(): bigint {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      const b = this.byte();
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw new Error('Thrift varint too long');
  }

  private zigzag(): bigint {
    const v = this.varint();
    return (v >> 1n) ^ -(v & 1n);
  }

  private listHeader(): { size: number; type: number } {
    const header = this.byte();
    const short = header >> 4;
    return { size: short === 15 ? Number(this.varint()) : short, type: header & 0x0f };
  }

  private advance(n: number): void {
    if (this.pos + n > this.buf.length) throw new Error('Parquet footer ends early');
    this.pos += n;
  }

  /** Skips one value. Booleans take no byte in a field header but one byte inside a container. */
  private skip(type: number, inContainer: boolean): void {
    switch (type) {
      case T_BOOL_TRUE:
      case T_BOOL_FALSE:
        if (inContainer) this.advance(1);
        return;
      case T_BYTE:
        return this.advance(1);
      case T_I16:
      case T_I32:
      case T_I64:
        this.varint();
        return;
      case T_DOUBLE:
        return this.advance(8);
      case T_BINARY:
        return this.advance(Number(this.varint()));
      case T_LIST:
      case T_SET: {
        const { size, type: elementType } = this.listHeader();
        for (let i = 0; i < size; i++) this.skip(elementType, true);
        return;
      }
      case T_MAP: {
        const size = Number(this.varint());
        if (size === 0) return;
        const types = this.byte();
        for (let i = 0; i < size; i++) {
          this.skip(types >> 4, true);
          this.skip(types & 0x0f, true);
        }
        return;
      }
      case T_STRUCT:
        return this.readStruct(() => false);
      default:
        throw new Error(`unknown Thrift compact type ${type} in the Parquet footer`);
    }
  }
}
