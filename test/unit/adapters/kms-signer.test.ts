/**
 * The KMS signer adapter on a mocked KMS backed by real keys: JWS made through it verify with `jose`; ECDSA
 * DER signatures (including r and s that DER pads or shortens) become R‖S; algorithms are pinned and keys
 * that do not fit are refused before anything is signed; KMS failures are classified.
 */
import { verify } from 'node:crypto';
import { GetPublicKeyCommand, SignCommand } from '@aws-sdk/client-kms';
import { compactVerify, decodeProtectedHeader, importJWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KmsSigner } from '../../../lib/adapters/kms-signer.js';
import { KeyMismatchError, publicJwkOf, signCompactJws, SigningError, type Signer } from '../../../lib/keys/signer.js';
import { createFakeKms, type FakeKms } from '../../support/fake-kms.js';

let kms: FakeKms;

beforeEach(() => {
  kms = createFakeKms();
});
afterEach(() => {
  kms.restore();
});

async function verifiedPayload(signer: Signer, jwt: string): Promise<Record<string, unknown>> {
  const { payload, protectedHeader } = await compactVerify(jwt, await importJWK({ ...signer.publicJwk }, signer.alg));
  expect(protectedHeader).toMatchObject({ alg: signer.alg, kid: signer.kid, typ: 'JWT' });
  return JSON.parse(new TextDecoder().decode(payload)) as Record<string, unknown>;
}

describe('KmsSigner', () => {
  it('ES256: reads the public key, signs the JWS input with ECDSA_SHA_256 (RAW) and answers R‖S that jose verifies', async () => {
    const key = kms.addKey('ECC_NIST_P256');
    const signer = await KmsSigner.load(kms.client, key.arn, 'ES256');
    expect(signer.publicJwk).toEqual(publicJwkOf(key.publicKey));

    const jwt = await signCompactJws(signer, { iss: 'client', n: 1 });
    expect(await verifiedPayload(signer, jwt)).toEqual({ iss: 'client', n: 1 });
    expect(Buffer.from(jwt.split('.')[2]!, 'base64url')).toHaveLength(64);

    expect(kms.mock.commandCalls(GetPublicKeyCommand)).toHaveLength(1);
    expect(kms.signRequests).toHaveLength(1);
    expect(kms.signRequests[0]).toMatchObject({ KeyId: key.arn, SigningAlgorithm: 'ECDSA_SHA_256', MessageType: 'RAW' });
    expect(Buffer.from(kms.signRequests[0]!.Message!).toString()).toBe(jwt.split('.').slice(0, 2).join('.'));
  });

  it.each([
    { part: 'r', length: 'padded' },
    { part: 's', length: 'padded' },
    { part: 'r', length: 'short' },
    { part: 's', length: 'short' },
  ] as const)('ES256: a DER signature whose $part is $length converts to a verifying 64-byte R‖S', async (shape) => {
    const key = kms.addKey('ECC_NIST_P256');
    const signer = await KmsSigner.load(kms.client, key.arn, 'ES256');
    kms.shape = shape;
    const jwt = await signCompactJws(signer, { shape: `${shape.part}-${shape.length}` });
    const raw = Buffer.from(jwt.split('.')[2]!, 'base64url');
    expect(raw).toHaveLength(64);
    const half = shape.part === 'r' ? raw.subarray(0, 32) : raw.subarray(32);
    if (shape.length === 'short') expect(half[0]).toBe(0); // the value's missing leading byte, restored as zero
    else expect(half[0]! & 0x80).toBe(0x80); // DER's extra zero byte removed
    expect(await verifiedPayload(signer, jwt)).toEqual({ shape: `${shape.part}-${shape.length}` });
  });

  it.each([
    ['RS256', 'RSASSA_PKCS1_V1_5_SHA_256'],
    ['PS256', 'RSASSA_PSS_SHA_256'],
  ] as const)('%s: pins %s and jose verifies the JWS', async (alg, kmsAlgorithm) => {
    const key = kms.addKey('RSA_2048');
    const signer = await KmsSigner.load(kms.client, key.arn, alg);
    const jwt = await signCompactJws(signer, { alg });
    expect(await verifiedPayload(signer, jwt)).toEqual({ alg });
    expect(kms.signRequests.map((r) => r.SigningAlgorithm)).toEqual([kmsAlgorithm]);
  });

  it('signs the SHA-256 digest (DIGEST) of a message over 4096 bytes', async () => {
    const key = kms.addKey('RSA_2048');
    const signer = await KmsSigner.load(kms.client, key.arn, 'RS256');
    const data = Buffer.alloc(5000, 7);
    const signature = await signer.sign(data);
    expect(kms.signRequests[0]).toMatchObject({ MessageType: 'DIGEST' });
    expect(kms.signRequests[0]!.Message).toHaveLength(32);
    expect(verify('sha256', data, key.publicKey, signature)).toBe(true);
  });

  it('refuses RS256 on an EC key and ES256 on an RSA key before signing anything', async () => {
    const ec = kms.addKey('ECC_NIST_P256');
    const rsa = kms.addKey('RSA_2048');
    await expect(KmsSigner.load(kms.client, ec.arn, 'RS256')).rejects.toThrow(KeyMismatchError);
    await expect(KmsSigner.load(kms.client, ec.arn, 'RS256')).rejects.toThrow(/elliptic-curve key; RS256 needs an RSA key/);
    await expect(KmsSigner.load(kms.client, rsa.arn, 'ES256')).rejects.toThrow(/RSA key; ES256 needs a P-256/);
    expect(kms.signRequests).toHaveLength(0);
  });

  it('refuses a key whose allowed signing algorithms do not include the pinned one', async () => {
    const pssOnly = kms.addKey('RSA_2048', { signingAlgorithms: ['RSASSA_PSS_SHA_256'] });
    await expect(KmsSigner.load(kms.client, pssOnly.arn, 'RS256')).rejects.toThrow(/does not allow RSASSA_PKCS1_V1_5_SHA_256/);
    expect(kms.signRequests).toHaveLength(0);
  });

  it('KMS refusing a signature with another algorithm than the pinned one is an unusable key', async () => {
    const key = kms.addKey('RSA_2048');
    const signer = await KmsSigner.load(kms.client, key.arn, 'PS256');
    key.signingAlgorithms = ['RSASSA_PKCS1_V1_5_SHA_256'];
    const error = await signer.sign(Buffer.from('x')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningError);
    expect(error).toMatchObject({ kind: 'error' });
    expect(kms.signRequests[0]).toMatchObject({ SigningAlgorithm: 'RSASSA_PSS_SHA_256' });
  });

  it('a missing or disabled key is an error naming the key; throttling and KMS outages are passing', async () => {
    const missing = 'arn:aws:kms:eu-central-1:111122223333:key/00000000-dead-4000-8000-000000000000';
    const error = await KmsSigner.load(kms.client, missing, 'ES256').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SigningError);
    expect(error).toMatchObject({ kind: 'error', message: expect.stringContaining(`${missing}: it does not exist`) });

    const key = kms.addKey('ECC_NIST_P256');
    const signer = await KmsSigner.load(kms.client, key.arn, 'ES256');
    key.disabled = true;
    await expect(signer.sign(Buffer.from('x'))).rejects.toMatchObject({ kind: 'error', message: expect.stringContaining('disabled') });

    kms.mock.on(SignCommand).rejects(Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException', $metadata: { httpStatusCode: 400 } }));
    await expect(signer.sign(Buffer.from('x'))).rejects.toMatchObject({ kind: 'passing' });
    kms.mock.on(SignCommand).rejects(Object.assign(new Error('internal'), { name: 'KMSInternalException', $metadata: { httpStatusCode: 500 } }));
    await expect(signer.sign(Buffer.from('x'))).rejects.toMatchObject({ kind: 'passing' });
  });

  it('a signature that is not DER ECDSA is refused, never passed on', async () => {
    const key = kms.addKey('ECC_NIST_P256');
    const signer = await KmsSigner.load(kms.client, key.arn, 'ES256');
    kms.mock.on(SignCommand).resolves({ KeyId: key.arn, Signature: new Uint8Array(64).fill(1) });
    await expect(signer.sign(Buffer.from('x'))).rejects.toMatchObject({ name: 'SigningError', kind: 'error' });
  });

  it('the kid is the RFC 7638 thumbprint of the public key (as jose computes it)', async () => {
    const { calculateJwkThumbprint } = await import('jose');
    const key = kms.addKey('ECC_NIST_P256');
    const signer = await KmsSigner.load(kms.client, key.arn, 'ES256');
    expect(signer.kid).toBe(await calculateJwkThumbprint({ ...signer.publicJwk }, 'sha256'));
    expect(decodeProtectedHeader(await signCompactJws(signer, {})).kid).toBe(signer.kid);
  });
});
