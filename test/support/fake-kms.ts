/**
 * KMS for tests, on `aws-sdk-client-mock`: `GetPublicKey` and `Sign` answered with real keys held here (so a
 * signature the broker gets back verifies), refusing what KMS refuses (an unknown or disabled key, a signing
 * algorithm the key does not allow, a message over 4096 bytes in RAW mode). Signatures are DER for ECDSA,
 * like KMS's. `shape` lets a test ask for ECDSA signatures whose r or s has a given DER length.
 */
import { constants, generateKeyPairSync, privateEncrypt, sign, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';

export type FakeKeySpec = 'ECC_NIST_P256' | 'RSA_2048';

export interface FakeKmsKey {
  arn: string;
  spec: FakeKeySpec;
  privateKey: KeyObject;
  publicKey: KeyObject;
  signingAlgorithms: SigningAlgorithmSpec[];
  disabled: boolean;
  /** `Sign` refused with AccessDeniedException (the caller may read the key but not sign with it). */
  signDenied: boolean;
}

/** DER lengths of r and s wanted in the next ECDSA signatures: 33 (leading zero for a high bit), 32, or ≤ 31. */
export type EcdsaShape = { part: 'r' | 's'; length: 'padded' | 'short' };

export interface FakeKms {
  client: KMSClient;
  mock: AwsClientStub<KMSClient>;
  keys: Map<string, FakeKmsKey>;
  addKey(spec: FakeKeySpec, options?: { signingAlgorithms?: SigningAlgorithmSpec[] }): FakeKmsKey;
  /** Every Sign request received. */
  readonly signRequests: { KeyId?: string; SigningAlgorithm?: string; MessageType?: string; Message?: Uint8Array }[];
  /** Shape of the following ECDSA signatures (until changed). */
  shape: EcdsaShape | undefined;
  restore(): void;
}

const kmsError = (name: string, message: string) => Object.assign(new Error(message), { name, $metadata: { httpStatusCode: 400 } });

/** DigestInfo prefix of SHA-256 (RFC 8017 §9.2 note 1), for PKCS #1 v1.5 over a given digest. */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

let counter = 0;

function derPartLength(der: Buffer, part: 'r' | 's'): number {
  const rLength = der[3]!;
  return part === 'r' ? rLength : der[4 + rLength + 1]!;
}

export function createFakeKms(): FakeKms {
  const client = new KMSClient({ region: 'eu-central-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const mock = mockClient(client);
  const keys = new Map<string, FakeKmsKey>();
  const signRequests: FakeKms['signRequests'] = [];
  const fake: FakeKms = {
    client,
    mock,
    keys,
    signRequests,
    shape: undefined,
    addKey(spec, options = {}) {
      counter += 1;
      const arn = `arn:aws:kms:eu-central-1:111122223333:key/${String(counter).padStart(8, '0')}-0000-4000-8000-000000000000`;
      const pair = spec === 'ECC_NIST_P256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('rsa', { modulusLength: 2048 });
      const key: FakeKmsKey = {
        arn,
        spec,
        privateKey: pair.privateKey,
        publicKey: pair.publicKey,
        signingAlgorithms:
          options.signingAlgorithms ??
          (spec === 'ECC_NIST_P256' ? ['ECDSA_SHA_256'] : ['RSASSA_PKCS1_V1_5_SHA_256', 'RSASSA_PSS_SHA_256']),
        disabled: false,
        signDenied: false,
      };
      keys.set(arn, key);
      return key;
    },
    restore: () => mock.restore(),
  };

  const find = (keyId: string | undefined): FakeKmsKey => {
    const key = keyId ? keys.get(keyId) : undefined;
    if (!key) throw kmsError('NotFoundException', `Key '${keyId}' does not exist`);
    if (key.disabled) throw kmsError('DisabledException', `${keyId} is disabled.`);
    return key;
  };

  mock.on(GetPublicKeyCommand).callsFake((input: { KeyId?: string }) => {
    const key = find(input.KeyId);
    return {
      KeyId: key.arn,
      KeySpec: key.spec,
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: new Uint8Array(key.publicKey.export({ type: 'spki', format: 'der' })),
      SigningAlgorithms: key.signingAlgorithms,
    };
  });

  mock.on(SignCommand).callsFake((input: { KeyId?: string; Message?: Uint8Array; MessageType?: string; SigningAlgorithm?: SigningAlgorithmSpec }) => {
    signRequests.push({ ...input });
    const key = find(input.KeyId);
    if (key.signDenied) throw kmsError('AccessDeniedException', `User is not authorized to perform: kms:Sign on resource: ${key.arn}`);
    const algorithm = input.SigningAlgorithm;
    if (!algorithm || !key.signingAlgorithms.includes(algorithm)) {
      throw kmsError('InvalidKeyUsageException', `You cannot sign with ${key.arn} and ${algorithm}.`);
    }
    const message = Buffer.from(input.Message ?? []);
    if (input.MessageType === 'RAW' && message.length > 4096) throw kmsError('ValidationException', 'Message exceeds 4096 bytes');
    if (input.MessageType === 'DIGEST') {
      if (message.length !== 32) throw kmsError('ValidationException', 'Digest length is not 32 bytes');
      if (algorithm !== 'RSASSA_PKCS1_V1_5_SHA_256') throw new Error('fake KMS: DIGEST is only implemented for RSASSA_PKCS1_V1_5_SHA_256');
      return { KeyId: key.arn, SigningAlgorithm: algorithm, Signature: new Uint8Array(privateEncrypt({ key: key.privateKey, padding: constants.RSA_PKCS1_PADDING }, Buffer.concat([SHA256_DIGEST_INFO, message]))) };
    }
    let signature: Buffer;
    if (algorithm === 'ECDSA_SHA_256') {
      // ECDSA is randomized: sign again until the signature has the shape asked for.
      for (let attempt = 0; ; attempt++) {
        signature = sign('sha256', message, { key: key.privateKey, dsaEncoding: 'der' });
        const shape = fake.shape;
        if (!shape) break;
        const length = derPartLength(signature, shape.part);
        if ((shape.length === 'padded' && length === 33) || (shape.length === 'short' && length <= 31)) break;
        if (attempt > 20_000) throw new Error('fake KMS: no signature of the wanted shape');
      }
    } else if (algorithm === 'RSASSA_PSS_SHA_256') {
      signature = sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    } else {
      signature = sign('sha256', message, { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING });
    }
    return { KeyId: key.arn, SigningAlgorithm: algorithm, Signature: new Uint8Array(signature!) };
  });

  return fake;
}

/** SHA-256 of a message, as KMS's DIGEST mode takes it. */
