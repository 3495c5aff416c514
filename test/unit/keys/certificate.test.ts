/**
 * Self-signed certificates made through the signer port: node:crypto's X509Certificate parses them and
 * verifies their signature with the key they certify, for every algorithm, with a local key and with a key
 * in (mocked) KMS.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { KmsSigner } from '../../../lib/adapters/kms-signer.js';
import { certificateThumbprints, selfSignedCertificate, toPem } from '../../../lib/keys/certificate.js';
import { LocalSigner } from '../../../lib/keys/local-signer.js';
import { SIGNING_ALGORITHMS, type Signer } from '../../../lib/keys/signer.js';
import { createFakeKms, type FakeKms } from '../../support/fake-kms.js';

const notBefore = new Date('2026-12-01T10:00:00Z');
const notAfter = new Date('2028-12-01T10:00:00Z');

async function checkCertificate(signer: Signer) {
  const der = await selfSignedCertificate(signer, { commonName: `oauth-broker ${signer.kid}`, notBefore, notAfter });
  const certificate = new X509Certificate(toPem(der));
  expect(certificate.raw.equals(der)).toBe(true);
  expect(certificate.verify(certificate.publicKey)).toBe(true);
  expect(certificate.publicKey.export({ format: 'jwk' })).toMatchObject(signer.publicJwk);
  expect(certificate.subject).toBe(`CN=oauth-broker ${signer.kid}`);
  expect(certificate.issuer).toBe(certificate.subject);
  expect(new Date(certificate.validFrom).toISOString()).toBe(notBefore.toISOString());
  expect(new Date(certificate.validTo).toISOString()).toBe(notAfter.toISOString());
  expect(certificate.ca).toBe(false);
  const thumbprints = certificateThumbprints(der);
  expect(thumbprints.x5t).toBe(createHash('sha1').update(der).digest('base64url'));
  expect(Buffer.from(thumbprints.x5t, 'base64url').toString('hex').toUpperCase()).toBe(certificate.fingerprint.replace(/:/g, ''));
  expect(Buffer.from(thumbprints['x5t#S256'], 'base64url').toString('hex').toUpperCase()).toBe(certificate.fingerprint256.replace(/:/g, ''));
  return certificate;
}

describe('selfSignedCertificate', () => {
  it.each(SIGNING_ALGORITHMS)('%s with a local key: X509Certificate.verify accepts it', async (alg) => {
    await checkCertificate(LocalSigner.generate(alg));
  });

  it('is not verified by another key', async () => {
    const der = await selfSignedCertificate(LocalSigner.generate('ES256'), { commonName: 'x', notBefore, notAfter });
    expect(new X509Certificate(der).verify(new X509Certificate(await selfSignedCertificate(LocalSigner.generate('ES256'), { commonName: 'x', notBefore, notAfter })).publicKey)).toBe(false);
  });

  describe('with a key in KMS (mocked)', () => {
    let kms: FakeKms | undefined;
    afterEach(() => kms?.restore());

    it.each([
      ['ES256', 'ECC_NIST_P256'],
      ['RS256', 'RSA_2048'],
      ['PS256', 'RSA_2048'],
    ] as const)('%s: signed by one KMS Sign call, verified by X509Certificate', async (alg, spec) => {
      kms = createFakeKms();
      const key = kms.addKey(spec);
      await checkCertificate(await KmsSigner.load(kms.client, key.arn, alg));
      expect(kms.signRequests).toHaveLength(1);
      expect(kms.signRequests[0]!.KeyId).toBe(key.arn);
    });
  });
});
