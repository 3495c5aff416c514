/**
 * The little ASN.1 DER (ITU-T X.690 §10) the signing keys need: encoding the parts of an X.509 certificate
 * (RFC 5280 §4.1) and converting ECDSA signatures between DER (`Ecdsa-Sig-Value`, RFC 3279 §2.2.3; what
 * KMS returns and X.509 carries) and the fixed-width R‖S of JWS (RFC 7518 §3.4).
 */

/** X.690 §8.1.3: definite length, short form below 128, long form above. */
function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One TLV: `tag` (a single identifier octet), length, contents. */
export function tlv(tag: number, contents: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(contents.length), contents]);
}

export const sequence = (...items: Uint8Array[]): Buffer => tlv(0x30, Buffer.concat(items));
export const set = (...items: Uint8Array[]): Buffer => tlv(0x31, Buffer.concat(items));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const octetString = (bytes: Uint8Array): Buffer => tlv(0x04, bytes);
export const utf8String = (text: string): Buffer => tlv(0x0c, Buffer.from(text, 'utf8'));
export const boolean = (value: boolean): Buffer => Buffer.from([0x01, 0x01, value ? 0xff : 0x00]);
/** A BIT STRING of whole bytes (no unused bits). */
export const bitString = (bytes: Uint8Array): Buffer => tlv(0x03, Buffer.concat([Buffer.from([0]), bytes]));
/** `[n] EXPLICIT`: a constructed context-specific tag around one encoded value. */
export const explicit = (n: number, value: Uint8Array): Buffer => tlv(0xa0 | n, value);

/**
 * A non-negative INTEGER from its unsigned big-endian magnitude (X.690 §8.3): leading zero octets removed
 * (minimal encoding), one zero octet added when the high bit is set (else it would read as negative).
 */
export function unsignedInteger(magnitude: Uint8Array): Buffer {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  let bytes = Buffer.from(magnitude.subarray(start));
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

/** A small non-negative INTEGER (versions, salt lengths). */
export function smallInteger(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  do {
    bytes.unshift(rest & 0xff);
    rest = Math.floor(rest / 256);
  } while (rest > 0);
  return unsignedInteger(Buffer.from(bytes));
}

/** An OBJECT IDENTIFIER from its dotted form (X.690 §8.19). */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  const out: number[] = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let rest = Math.floor(arc / 128); rest > 0; rest = Math.floor(rest / 128)) chunk.unshift(0x80 | (rest & 0x7f));
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both in seconds and `Z`. */
export function time(date: Date): Buffer {
  const iso = date.toISOString();
  const digits = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return date.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'));
}

/** A DER signature that does not parse: a signer's fault, never retried as something else. */
export class DerSignatureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DerSignatureError';
  }
}

/** Reads one TLV at `offset`; only the definite lengths DER allows. */
function readTlv(bytes: Uint8Array, offset: number): { tag: number; start: number; end: number } {
  if (offset + 2 > bytes.length) throw new DerSignatureError('truncated DER');
  const tag = bytes[offset]!;
  let length = bytes[offset + 1]!;
  let start = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 2 || start + count > bytes.length) throw new DerSignatureError('unsupported DER length');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + bytes[start + i]!;
    start += count;
  }
  const end = start + length;
  if (end > bytes.length) throw new DerSignatureError('truncated DER');
  return { tag, start, end };
}

/**
 * `Ecdsa-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` to JWS's R‖S, each left-padded with zeros to
 * `size` bytes (32 for P-256, RFC 7518 §3.4). DER drops leading zeros of r and s and adds one before a
 * high bit, so either may be shorter than `size` or one byte longer (a zero); anything else is refused.
 */
export function derToJoseEcdsa(der: Uint8Array, size: number): Buffer {
  const outer = readTlv(der, 0);
  if (outer.tag !== 0x30 || outer.end !== der.length) throw new DerSignatureError('an ECDSA signature must be one DER SEQUENCE');
  const parts: Buffer[] = [];
  let offset = outer.start;
  for (let i = 0; i < 2; i++) {
    const int = readTlv(der, offset);
    if (int.tag !== 0x02 || int.end === int.start) throw new DerSignatureError('an ECDSA signature holds two INTEGERs');
    let value = Buffer.from(der.subarray(int.start, int.end));
    if (value[0]! & 0x80) throw new DerSignatureError('an ECDSA signature value cannot be negative');
    while (value.length > 1 && value[0] === 0) value = value.subarray(1);
    if (value.length > size) throw new DerSignatureError(`an ECDSA signature value is longer than ${size} bytes`);
    parts.push(Buffer.concat([Buffer.alloc(size - value.length), value]));
    offset = int.end;
  }
  if (offset !== outer.end) throw new DerSignatureError('trailing data after an ECDSA signature');
  return Buffer.concat(parts);
}

/** JWS's R‖S back to DER (for an X.509 `signatureValue`, RFC 5480 §2.2 / RFC 3279 §2.2.3). */
export function joseToDerEcdsa(raw: Uint8Array): Buffer {
  if (raw.length === 0 || raw.length % 2 !== 0) throw new DerSignatureError('an R‖S signature has two halves of equal length');
  const half = raw.length / 2;
  return sequence(unsignedInteger(raw.subarray(0, half)), unsignedInteger(raw.subarray(half)));
}
