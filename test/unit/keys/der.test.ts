/**
 * DER ↔ JOSE ECDSA signatures (RFC 3279 §2.2.3 / RFC 7518 §3.4) and the DER primitives certificates use.
 */
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DerSignatureError, derToJoseEcdsa, joseToDerEcdsa, oid, smallInteger, time, unsignedInteger } from '../../../lib/keys/der.js';

const hex = (value: string) => Buffer.from(value.replace(/\s+/g, ''), 'hex');
/** `SEQUENCE { INTEGER r, INTEGER s }` from the INTEGERs' content octets. */
const ecdsaDer = (r: string, s: string) => {
  const int = (content: string) => Buffer.concat([Buffer.from([0x02, content.length / 2]), hex(content)]);
  const body = Buffer.concat([int(r), int(s)]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
};
const ones = (bytes: number) => '11'.repeat(bytes);

describe('derToJoseEcdsa', () => {
  it('drops the zero DER adds before a high bit (33-byte r and s)', () => {
    const r = `80${ones(31)}`;
    const s = `ff${ones(31)}`;
    const raw = derToJoseEcdsa(ecdsaDer(`00${r}`, `00${s}`), 32);
    expect(raw.toString('hex')).toBe(`${r}${s}`);
  });

  it('left-pads an r and an s that DER shortened (leading zero bytes of the value)', () => {
    const raw = derToJoseEcdsa(ecdsaDer(`7f${ones(29)}`, `01${ones(30)}`), 32);
    expect(raw).toHaveLength(64);
    expect(raw.toString('hex')).toBe(`0000` + `7f${ones(29)}` + `00` + `01${ones(30)}`);
  });

  it('keeps a one-byte value right-aligned', () => {
    expect(derToJoseEcdsa(ecdsaDer('05', '00'), 32).toString('hex')).toBe(`${'00'.repeat(31)}05${'00'.repeat(32)}`);
  });

  it('refuses what is not an ECDSA signature of that size', () => {
    expect(() => derToJoseEcdsa(ecdsaDer(`01${ones(32)}`, '01'), 32)).toThrow(DerSignatureError); // 33 significant bytes
    expect(() => derToJoseEcdsa(ecdsaDer('81', '01'), 32)).toThrow(/negative/);
    expect(() => derToJoseEcdsa(Buffer.concat([ecdsaDer('01', '01'), Buffer.from([0])]), 32)).toThrow(DerSignatureError);
    expect(() => derToJoseEcdsa(hex('3003020101'), 32)).toThrow(DerSignatureError);
    expect(() => derToJoseEcdsa(hex('3006020101020201'), 32)).toThrow(/truncated/);
  });

  it('round-trips real P-256 signatures, which node:crypto then verifies in both encodings', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const lengths = new Set<number>();
    for (let i = 0; i < 64; i++) {
      const data = Buffer.from(`message ${i}`);
      const der = sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
      lengths.add(der[3]!);
      const raw = derToJoseEcdsa(der, 32);
      expect(raw).toHaveLength(64);
      expect(verify('sha256', data, { key: publicKey, dsaEncoding: 'ieee-p1363' }, raw)).toBe(true);
      expect(joseToDerEcdsa(raw).equals(der)).toBe(true);
    }
    // Both a padded (33) and an unpadded (32) r occurred: the conversions met both cases.
    expect(lengths.has(33) && lengths.has(32)).toBe(true);
  });
});

describe('joseToDerEcdsa', () => {
  it('encodes minimal INTEGERs: leading zeros removed, a zero before a high bit', () => {
    const raw = Buffer.concat([hex(`0000${'7f'.repeat(30)}`), hex(`${'ff'.repeat(32)}`)]);
    const der = joseToDerEcdsa(raw);
    expect(der.toString('hex')).toBe(`3043` + `021e${'7f'.repeat(30)}` + `022100${'ff'.repeat(32)}`);
  });

  it('refuses an odd-length signature', () => {
    expect(() => joseToDerEcdsa(Buffer.alloc(63))).toThrow(DerSignatureError);
  });
});

describe('DER primitives', () => {
  it('encodes object identifiers with multi-byte arcs', () => {
    expect(oid('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(oid('2.5.29.19').toString('hex')).toBe('0603551d13');
  });

  it('encodes integers minimally', () => {
    expect(smallInteger(2).toString('hex')).toBe('020102');
    expect(smallInteger(128).toString('hex')).toBe('02020080');
    expect(unsignedInteger(hex('000001')).toString('hex')).toBe('020101');
  });

  it('writes UTCTime before 2050 and GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)', () => {
    expect(time(new Date('2026-12-01T14:05:09Z')).toString('ascii', 2)).toBe('261201140509Z');
    expect(time(new Date('2026-12-01T14:05:09Z'))[0]).toBe(0x17);
    expect(time(new Date('2051-01-02T03:04:05Z'))[0]).toBe(0x18);
    expect(time(new Date('2051-01-02T03:04:05Z')).toString('ascii', 2)).toBe('20510102030405Z');
  });
});
