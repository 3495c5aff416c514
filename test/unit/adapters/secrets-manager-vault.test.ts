import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  InternalServiceError,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { PROFILE_ID_TAG, SecretsManagerVault } from '../../../lib/adapters/secrets-manager-vault.js';
import type { TokenSet } from '../../../lib/ports.js';
import { ACCESS_TOKEN, CLIENT_SECRET, REFRESH_TOKEN, tokenSet } from '../support/token-sets.js';
import { createFakeSecretsManager, type FakeSecretsManager } from '../../support/fake-secrets-manager.js';

const PREFIX = 'oauth-broker/test';
const KMS_KEY = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';

const meta = { $metadata: {} };
const notFound = () => new ResourceNotFoundException({ ...meta, message: "Secrets Manager can't find the specified secret." });
const alreadyExists = () => new ResourceExistsException({ ...meta, message: 'The operation failed because the secret already exists.' });

/** Every secret value used in this file; none may appear in any error message. */
const SECRET_VALUES = [CLIENT_SECRET, ACCESS_TOKEN, REFRESH_TOKEN];

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(Error);
    return error as Error;
  }
  throw new Error('expected a rejection');
}

function expectNoSecretIn(error: Error, extra: string[] = []): void {
  const text = `${error.name} ${error.message} ${String(error.stack)} ${JSON.stringify(error)}`;
  for (const value of [...SECRET_VALUES, ...extra]) expect(text.includes(value), 'a secret value leaked into an error').toBe(false);
}

describe('SecretsManagerVault with the in-memory fake', () => {
  let fake: FakeSecretsManager;
  let vault: SecretsManagerVault;

  beforeEach(() => {
    fake = createFakeSecretsManager();
    vault = new SecretsManagerVault({ client: fake.client, prefix: PREFIX, kmsKeyId: KMS_KEY });
  });

  afterEach(() => {
    fake.restore();
  });

  it('creates the client secret on first write, with the tag, the KMS key and a description', async () => {
    // Act
    await vault.putClientSecret('erp', CLIENT_SECRET);

    // Assess
    const secret = fake.secrets.get(`${PREFIX}/erp/client-secret`);
    expect(secret).toBeDefined();
    expect(secret?.tags).toEqual([{ Key: PROFILE_ID_TAG, Value: 'erp' }]);
    expect(PROFILE_ID_TAG).toBe('oauth-broker:profile-id');
    expect(secret?.kmsKeyId).toBe(KMS_KEY);
    expect(secret?.description).toMatch(/client secret/i);
    expect(secret?.description).toContain('erp');
    expect(secret?.description).not.toContain(CLIENT_SECRET);
    expect(fake.currentValue(`${PREFIX}/erp/client-secret`)).toBe(CLIENT_SECRET);
    expect(fake.calls('PutSecretValue')).toBe(1);
    expect(fake.calls('CreateSecret')).toBe(1);
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it('omits KmsKeyId when none is configured', async () => {
    // Prepare
    const plain = new SecretsManagerVault({ client: fake.client, prefix: `${PREFIX}/` });

    // Act
    await plain.putClientSecret('erp', CLIENT_SECRET);

    // Assess
    const create = fake.mock.commandCalls(CreateSecretCommand)[0]?.args[0].input;
    expect(create?.Name).toBe(`${PREFIX}/erp/client-secret`);
    expect(create).not.toHaveProperty('KmsKeyId');
  });

  it('writes an existing secret with PutSecretValue only', async () => {
    // Prepare
    await vault.putClientSecret('erp', 'first-secret');
    fake.mock.resetHistory();

    // Act
    await vault.putClientSecret('erp', CLIENT_SECRET);

    // Assess
    expect(fake.calls('PutSecretValue')).toBe(1);
    expect(fake.calls('CreateSecret')).toBe(0);
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it('returns a new version id per token set write and reads each version back', async () => {
    // Prepare
    const first = tokenSet();
    const second = tokenSet({ accessToken: 'at-second', refreshToken: null, scope: null });

    // Act
    const v1 = await vault.putTokenSet('erp', first);
    const v2 = await vault.putTokenSet('erp', second);

    // Assess
    expect(v1).toEqual(expect.any(String));
    expect(v2).toEqual(expect.any(String));
    expect(v2).not.toBe(v1);
    expect(await vault.getTokenSet('erp', v1)).toStrictEqual(first);
    expect(await vault.getTokenSet('erp', v2)).toStrictEqual(second);
    expect(await vault.getTokenSet('erp')).toStrictEqual(second);
    const secret = fake.secrets.get(`${PREFIX}/erp/token-set`);
    expect(secret?.description).toMatch(/token set/i);
    expect(secret?.versions.get(v2)?.stages).toEqual(['AWSCURRENT']);
    expect(secret?.versions.get(v1)?.stages).toEqual(['AWSPREVIOUS']);
  });

  it('stores only the token set fields', async () => {
    // Prepare
    const withExtra = { ...tokenSet(), idToken: 'id-token-never-stored' } as TokenSet;

    // Act
    await vault.putTokenSet('erp', withExtra);

    // Assess
    expect(fake.currentValue(`${PREFIX}/erp/token-set`)).not.toContain('id-token-never-stored');
    expect(await vault.getTokenSet('erp')).toStrictEqual(tokenSet());
  });

  it('answers undefined for missing secrets and unknown versions', async () => {
    // Prepare
    await vault.putTokenSet('known', tokenSet());

    // Act
    const missingSecret = await vault.getClientSecret('nobody');
    const missingTokens = await vault.getTokenSet('nobody');
    const missingVersion = await vault.getTokenSet('known', '00000000-0000-4000-8000-000000000000');

    // Assess
    expect(missingSecret).toBeUndefined();
    expect(missingTokens).toBeUndefined();
    expect(missingVersion).toBeUndefined();
  });

  it('deletes both secrets without a recovery window, and ignores missing ones', async () => {
    // Prepare
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putTokenSet('erp', tokenSet());

    // Act
    await vault.deleteProfileSecrets('erp');
    await vault.deleteProfileSecrets('erp');
    await vault.deleteProfileSecrets('never-existed');

    // Assess
    expect(fake.secrets.size).toBe(0);
    const deletes = fake.mock.commandCalls(DeleteSecretCommand).map((c) => c.args[0].input);
    expect(deletes).toHaveLength(6);
    expect(deletes.every((input) => input.ForceDeleteWithoutRecovery === true)).toBe(true);
    expect(new Set(deletes.map((input) => input.SecretId))).toEqual(
      new Set([`${PREFIX}/erp/client-secret`, `${PREFIX}/erp/token-set`, `${PREFIX}/never-existed/client-secret`, `${PREFIX}/never-existed/token-set`]),
    );
    expect(await vault.getClientSecret('erp')).toBeUndefined();
  });

  it('deletes only the client secret when a profile stops using one, keeping its token set; twice is not an error', async () => {
    // Prepare
    await vault.putClientSecret('erp', CLIENT_SECRET);
    const version = await vault.putTokenSet('erp', tokenSet());

    // Act
    await vault.deleteClientSecret('erp');
    await vault.deleteClientSecret('erp');

    // Assess
    expect([...fake.secrets.keys()]).toEqual([`${PREFIX}/erp/token-set`]);
    const deletes = fake.mock.commandCalls(DeleteSecretCommand).map((c) => c.args[0].input);
    expect(deletes).toEqual([
      { SecretId: `${PREFIX}/erp/client-secret`, ForceDeleteWithoutRecovery: true },
      { SecretId: `${PREFIX}/erp/client-secret`, ForceDeleteWithoutRecovery: true },
    ]);
    expect(await vault.getClientSecret('erp')).toBeUndefined();
    expect(await vault.getTokenSet('erp', version)).toEqual(tokenSet());
  });

  it('deletes only the token set when a grant re-created it for a deleted profile, keeping the client secret', async () => {
    // Prepare
    await vault.putClientSecret('erp', CLIENT_SECRET);
    await vault.putTokenSet('erp', tokenSet());

    // Act
    await vault.deleteTokenSet('erp');
    await vault.deleteTokenSet('never-existed');

    // Assess
    expect([...fake.secrets.keys()]).toEqual([`${PREFIX}/erp/client-secret`]);
    expect(fake.mock.commandCalls(DeleteSecretCommand).map((c) => c.args[0].input.SecretId)).toEqual([`${PREFIX}/erp/token-set`, `${PREFIX}/never-existed/token-set`]);
    expect(await vault.getTokenSet('erp')).toBeUndefined();
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it('lets a profile with the same id be created again after deletion', async () => {
    // Prepare
    await vault.putClientSecret('erp', 'old-secret');
    await vault.deleteProfileSecrets('erp');

    // Act
    await vault.putClientSecret('erp', CLIENT_SECRET);

    // Assess
    expect(await vault.getClientSecret('erp')).toBe(CLIENT_SECRET);
  });

  it.each([
    ['not JSON', `{"accessToken":"${ACCESS_TOKEN}", truncated`],
    ['JSON of the wrong shape', JSON.stringify({ accessToken: ACCESS_TOKEN, refreshToken: REFRESH_TOKEN })],
    ['a JSON array', JSON.stringify([ACCESS_TOKEN, REFRESH_TOKEN])],
    ['a wrong field type', JSON.stringify({ ...tokenSet(), expiresAt: 12 })],
  ])('refuses a stored token set that is %s without echoing it', async (_label, stored) => {
    // Prepare
    await vault.putTokenSet('erp', tokenSet());
    const secret = fake.secrets.get(`${PREFIX}/erp/token-set`);
    for (const version of secret?.versions.values() ?? []) version.secretString = stored;

    // Act
    const error = await errorOf(vault.getTokenSet('erp'));

    // Assess
    expect(error.message).toBe('stored token set is malformed');
    expect(error.cause).toBeUndefined();
    expectNoSecretIn(error, [stored]);
  });
  it('uses a request token as the version id, and a repeated write with it adds no version', async () => {
    // Prepare
    const token = 'erp-refresh-0f2a1e63-0000-4000-8000-000000000001';
    await vault.putTokenSet('erp', tokenSet({ accessToken: 'at-older' }));

    // Act
    const first = await vault.putTokenSet('erp', tokenSet(), { requestToken: token });
    const again = await vault.putTokenSet('erp', tokenSet(), { requestToken: token });

    // Assess
    expect(first).toBe(token);
    expect(again).toBe(token);
    const secret = fake.secrets.get(`${PREFIX}/erp/token-set`);
    expect(secret?.versions.size).toBe(2);
    expect(secret?.versions.get(token)?.stages).toEqual(['AWSCURRENT']);
    expect(await vault.getTokenSet('erp')).toStrictEqual(tokenSet());
    const puts = fake.mock.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input.ClientRequestToken);
    expect(puts).toEqual([undefined, token, token]);
  });

  it('creates a new token set secret under the request token', async () => {
    // Prepare
    const token = 'b'.repeat(40);

    // Act
    const version = await vault.putTokenSet('fresh', tokenSet(), { requestToken: token });

    // Assess
    expect(version).toBe(token);
    const create = fake.mock.commandCalls(CreateSecretCommand)[0]?.args[0].input;
    expect(create?.ClientRequestToken).toBe(token);
    expect(fake.mock.commandCalls(PutSecretValueCommand)[0]?.args[0].input.ClientRequestToken).toBe(token);
    expect(await vault.getTokenSet('fresh', token)).toStrictEqual(tokenSet());
  });

  it('refuses a request token reused for a different token set, without echoing either', async () => {
    // Prepare
    const token = 'c'.repeat(36);
    await vault.putTokenSet('erp', tokenSet(), { requestToken: token });

    // Act
    const error = await errorOf(vault.putTokenSet('erp', tokenSet({ accessToken: 'at-other-SECRET' }), { requestToken: token }));

    // Assess
    expect(error.name).toBe('ResourceExistsException');
    expectNoSecretIn(error, ['at-other-SECRET']);
    expect(await vault.getTokenSet('erp')).toStrictEqual(tokenSet());
  });

  it('sends no ClientRequestToken of its own without a request token (the SDK makes one per call)', async () => {
    // Act
    await vault.putTokenSet('erp', tokenSet());
    await vault.putTokenSet('erp', tokenSet());

    // Assess
    const inputs = [
      ...fake.mock.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input),
      ...fake.mock.commandCalls(CreateSecretCommand).map((c) => c.args[0].input),
    ];
    expect(inputs).toHaveLength(3);
    for (const input of inputs) expect(input).not.toHaveProperty('ClientRequestToken');
    expect(fake.secrets.get(`${PREFIX}/erp/token-set`)?.versions.size).toBe(2);
  });

  it.each([
    ['too short', 'x'.repeat(31)],
    ['too long', 'y'.repeat(65)],
  ])('refuses a request token that is %s before calling AWS', async (_label, token) => {
    // Act
    const error = await errorOf(vault.putTokenSet('erp', tokenSet(), { requestToken: token }));

    // Assess
    expect(error).toBeInstanceOf(RangeError);
    expect(error.message).not.toContain(token);
    expect(fake.mock.calls()).toHaveLength(0);
  });

  it('refuses to store a malformed token set, before calling AWS and without echoing it', async () => {
    // Prepare
    const malformed = tokenSet({ expiresAt: `not a date ${REFRESH_TOKEN}` });

    // Act
    const error = await errorOf(vault.putTokenSet('erp', malformed));

    // Assess
    expect(error.message).toBe('token set to store is malformed');
    expectNoSecretIn(error);
    expect(fake.mock.calls()).toHaveLength(0);
  });
});

describe('SecretsManagerVault fault paths (mockClient directly)', () => {
  const client = new SecretsManagerClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  let sm: AwsClientStub<SecretsManagerClient>;

  beforeEach(() => {
    sm = mockClient(SecretsManagerClient);
  });

  afterEach(() => {
    sm.restore();
  });

  it('writes on top when another writer created the secret first (CreateSecret race)', async () => {
    // Prepare
    sm.on(PutSecretValueCommand).rejectsOnce(notFound()).resolves({ VersionId: 'v-after-race' });
    sm.on(CreateSecretCommand).rejects(alreadyExists());
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const version = await vault.putTokenSet('erp', tokenSet());

    // Assess
    expect(version).toBe('v-after-race');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(2);
    expect(sm.commandCalls(CreateSecretCommand)).toHaveLength(1);
  });

  it('retries PutSecretValue only once after the race', async () => {
    // Prepare
    sm.on(PutSecretValueCommand).rejects(notFound());
    sm.on(CreateSecretCommand).rejects(alreadyExists());
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const error = await errorOf(vault.putClientSecret('erp', CLIENT_SECRET));

    // Assess
    expect(error.name).toBe('ResourceNotFoundException');
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(2);
    expect(sm.commandCalls(CreateSecretCommand)).toHaveLength(1);
    expectNoSecretIn(error);
  });

  it('propagates other AWS errors unchanged and without secret values', async () => {
    // Prepare
    const awsError = new InternalServiceError({ ...meta, message: 'An error occurred on the server side.' });
    sm.on(PutSecretValueCommand).rejects(awsError);
    sm.on(GetSecretValueCommand).rejects(awsError);
    sm.on(DeleteSecretCommand).rejects(awsError);
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const errors = [
      await errorOf(vault.putClientSecret('erp', CLIENT_SECRET)),
      await errorOf(vault.putTokenSet('erp', tokenSet())),
      await errorOf(vault.getTokenSet('erp')),
      await errorOf(vault.getClientSecret('erp')),
      await errorOf(vault.deleteProfileSecrets('erp')),
    ];

    // Assess
    for (const error of errors) {
      expect(error).toBe(awsError);
      expectNoSecretIn(error);
    }
    expect(sm.commandCalls(CreateSecretCommand)).toHaveLength(0);
  });

  it('propagates a CreateSecret failure other than ResourceExists', async () => {
    // Prepare
    const awsError = new InternalServiceError({ ...meta, message: 'An error occurred on the server side.' });
    sm.on(PutSecretValueCommand).rejects(notFound());
    sm.on(CreateSecretCommand).rejects(awsError);
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const error = await errorOf(vault.putTokenSet('erp', tokenSet()));

    // Assess
    expect(error).toBe(awsError);
    expect(sm.commandCalls(PutSecretValueCommand)).toHaveLength(1);
  });

  it('refuses a secret stored as binary', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretBinary: new Uint8Array([1, 2, 3]), VersionId: 'v1' });
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const tokenError = await errorOf(vault.getTokenSet('erp'));
    const secretError = await errorOf(vault.getClientSecret('erp'));

    // Assess
    expect(tokenError.message).toBe('stored token set is malformed');
    expect(secretError.message).toBe('stored client secret is malformed');
  });

  it('reads the requested version', async () => {
    // Prepare
    sm.on(GetSecretValueCommand).resolves({ SecretString: JSON.stringify(tokenSet()), VersionId: 'v-7' });
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    await vault.getTokenSet('erp', 'v-7');

    // Assess
    expect(sm.commandCalls(GetSecretValueCommand)[0]?.args[0].input).toEqual({
      SecretId: `${PREFIX}/erp/token-set`,
      VersionId: 'v-7',
    });
  });
  it('sends the request token to the PutSecretValue after a CreateSecret race too', async () => {
    // Prepare
    const token = 'd'.repeat(48);
    sm.on(PutSecretValueCommand).rejectsOnce(notFound()).resolves({ VersionId: token });
    sm.on(CreateSecretCommand).rejects(alreadyExists());
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const version = await vault.putTokenSet('erp', tokenSet(), { requestToken: token });

    // Assess
    expect(version).toBe(token);
    const tokens = [
      ...sm.commandCalls(PutSecretValueCommand).map((c) => c.args[0].input.ClientRequestToken),
      ...sm.commandCalls(CreateSecretCommand).map((c) => c.args[0].input.ClientRequestToken),
    ];
    expect(tokens).toEqual([token, token, token]);
  });

  it('deletes a profile that never got a token set: not found is success', async () => {
    // Prepare
    sm.on(DeleteSecretCommand, { SecretId: `${PREFIX}/erp/client-secret` }).resolves({ Name: `${PREFIX}/erp/client-secret` });
    sm.on(DeleteSecretCommand, { SecretId: `${PREFIX}/erp/token-set` }).rejects(notFound());
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const outcome = await vault.deleteProfileSecrets('erp').then(() => 'deleted');

    // Assess
    expect(outcome).toBe('deleted');
    expect(sm.commandCalls(DeleteSecretCommand)).toHaveLength(2);
  });

  it('propagates AccessDenied on delete (a missing grant is not "not found")', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: secretsmanager:DeleteSecret'), { name: 'AccessDeniedException' });
    sm.on(DeleteSecretCommand).rejects(denied);
    const vault = new SecretsManagerVault({ client, prefix: PREFIX });

    // Act
    const error = await errorOf(vault.deleteProfileSecrets('erp'));

    // Assess
    expect(error).toBe(denied);
  });
});
