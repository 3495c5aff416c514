/**
 * Self-signed X.509 v3 certificates (RFC 5280 §4.1) of the broker's signing keys, signed through the signer
 * port by the key itself: servers that register a certificate rather than a JWK (Microsoft Entra ID) get
 * one without the private key ever leaving KMS. Also the certificate thumbprints JOSE uses (`x5t`,
 * `x5t#S256`, RFC 7515 §4.1.7–8).
 */
import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import {
  bitString,
  boolean,
  explicit,
  joseToDerEcdsa,
  nullValue,
  octetString,
  oid,
  sequence,
  set,
  smallInteger,
  time,
  tlv,
  unsignedInteger,
  utf8String,
} from './der.js';
import type { PublicJwk, Signer, SigningAlgorithm } from './signer.js';

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  rsassaPss: '1.2.840.113549.1.1.10',
  mgf1: '1.2.840.113549.1.1.8',
  sha256: '2.16.840.1.101.3.4.2.1',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyIdentifier: '2.5.29.14',
};

/** RFC 5758 §3.2 (ECDSA: no parameters), RFC 4055 §5 (PKCS #1 v1.5: NULL) and §3.1 (PSS with SHA-256, MGF1-SHA-256, salt 32). */
function signatureAlgorithm(alg: SigningAlgorithm): Buffer {
  switch (alg) {
    case 'ES256':
      return sequence(oid(OID.ecdsaWithSha256));
    case 'RS256':
      return sequence(oid(OID.sha256WithRsa), nullValue());
    case 'PS256': {
      const sha256 = sequence(oid(OID.sha256), nullValue());
      return sequence(
        oid(OID.rsassaPss),
        sequence(explicit(0, sha256), explicit(1, sequence(oid(OID.mgf1), sha256)), explicit(2, smallInteger(32))),
      );
    }
  }
}

const name = (commonName: string) => sequence(set(sequence(oid(OID.commonName), utf8String(commonName))));

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

export interface CertificateOptions {
  /** The subject's (and issuer's) common name. */
  commonName: string;
  notBefore: Date;
  notAfter: Date;
}

/** The DER of a self-signed certificate of `signer`'s key, signed by it (one `sign` call). */
export async function selfSignedCertificate(signer: Signer, options: CertificateOptions): Promise<Buffer> {
  const spki = spkiOf(signer.publicJwk);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and exactly 16 bytes (RFC 5280 §4.1.2.2)
  const algorithm = signatureAlgorithm(signer.alg);
  const tbs = sequence(
    explicit(0, smallInteger(2)), // v3
    unsignedInteger(serial),
    algorithm,
    name(options.commonName),
    sequence(time(options.notBefore), time(options.notAfter)),
    name(options.commonName),
    spki,
    explicit(
      3,
      sequence(
        extension(OID.basicConstraints, true, sequence()),
        // digitalSignature only: bit 0, seven unused bits (RFC 5280 §4.2.1.3).
        extension(OID.keyUsage, true, tlv(0x03, Buffer.from([0x07, 0x80]))),
        extension(OID.subjectKeyIdentifier, false, octetString(createHash('sha1').update(spki).digest())),
      ),
    ),
  );
  const signature = await signer.sign(tbs);
  const signatureValue = signer.alg === 'ES256' ? joseToDerEcdsa(signature) : Buffer.from(signature);
  return sequence(tbs, algorithm, bitString(signatureValue));
}

/** SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of a public JWK. */
export function spkiOf(jwk: PublicJwk): Buffer {
  return createPublicKey({ key: { ...jwk }, format: 'jwk' }).export({ type: 'spki', format: 'der' });
}

export function toPem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}

/** `x5t` (SHA-1) and `x5t#S256` (SHA-256) of a certificate's DER, base64url (RFC 7515 §4.1.7, §4.1.8). */
export function certificateThumbprints(der: Uint8Array): { x5t: string; 'x5t#S256': string } {
  return {
    x5t: createHash('sha1').update(der).digest('base64url'),
    'x5t#S256': createHash('sha256').update(der).digest('base64url'),
  };
}
