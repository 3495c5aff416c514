/**
 * An in-memory Secrets Manager behind `aws-sdk-client-mock`: CreateSecret, PutSecretValue, GetSecretValue and
 * DeleteSecret with versions, `AWSCURRENT`/`AWSPREVIOUS` stages and errors shaped like the SDK's own.
 *
 * `mockClient(SecretsManagerClient)` stubs `send` on the class prototype: EVERY SecretsManagerClient in the
 * process (including ones created before this call) talks to the fake until `restore()`. Calling
 * `createFakeSecretsManager()` or `mockClient(SecretsManagerClient)` again replaces the stub, so create one
 * fake per test (or call `reset()` in `beforeEach`) and `restore()` in `afterEach`/`afterAll`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  InvalidRequestException,
  PutSecretValueCommand,
  ResourceExistsException,
  ResourceNotFoundException,
  SecretsManagerClient,
  type CreateSecretCommandInput,
  type CreateSecretCommandOutput,
  type DeleteSecretCommandInput,
  type DeleteSecretCommandOutput,
  type GetSecretValueCommandInput,
  type GetSecretValueCommandOutput,
  type PutSecretValueCommandInput,
  type PutSecretValueCommandOutput,
  type Tag,
} from '@aws-sdk/client-secrets-manager';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';

const REGION = 'us-east-1';
const ACCOUNT = '123456789012';

export interface FakeSecretVersion {
  secretString: string;
  stages: string[];
  createdDate: Date;
}

export interface FakeSecret {
  arn: string;
  name: string;
  description: string | undefined;
  kmsKeyId: string | undefined;
  tags: Tag[];
  /** In creation order. */
  versions: Map<string, FakeSecretVersion>;
  /** Set when deleted with a recovery window; the secret then refuses reads and writes. */
  deletionDate: Date | undefined;
}

export interface FakeSecretsManager {
  /** A client whose calls reach the fake (any other SecretsManagerClient does too). */
  client: SecretsManagerClient;
  mock: AwsClientStub<SecretsManagerClient>;
  /** The secrets by name. Tests may read and edit it (e.g. to plant a malformed value). */
  secrets: Map<string, FakeSecret>;
  /** How many times a command was sent: `calls('PutSecretValue')` or `calls('PutSecretValueCommand')`. */
  calls(commandName: string): number;
  /** Forgets all secrets and call history, and re-installs the fake's behaviour. */
  reset(): void;
  /** Puts the real `send` back. */
  restore(): void;
  /** The current value of a secret, for assertions. */
  currentValue(name: string): string | undefined;
}

const meta = { $metadata: {} };

function notFound(message = "Secrets Manager can't find the specified secret."): ResourceNotFoundException {
  return new ResourceNotFoundException({ ...meta, message, Message: message });
}

function exists(name: string): ResourceExistsException {
  const message = `The operation failed because the secret ${name} already exists.`;
  return new ResourceExistsException({ ...meta, message, Message: message });
}

function markedForDeletion(): InvalidRequestException {
  const message = "You can't perform this operation on the secret because it was marked for deletion.";
  return new InvalidRequestException({ ...meta, message, Message: message });
}

export function createFakeSecretsManager(): FakeSecretsManager {
  const secrets = new Map<string, FakeSecret>();
  const mock = mockClient(SecretsManagerClient);

  /** By name or by (full) ARN, like the service. */
  const find = (secretId: string | undefined): FakeSecret | undefined => {
    if (secretId === undefined) return undefined;
    const byName = secrets.get(secretId);
    if (byName) return byName;
    for (const secret of secrets.values()) if (secret.arn === secretId) return secret;
    return undefined;
  };

  const live = (secretId: string | undefined): FakeSecret => {
    const secret = find(secretId);
    if (!secret) throw notFound();
    if (secret.deletionDate) throw markedForDeletion();
    return secret;
  };

  /** Adds a version and moves the stages: the new one is AWSCURRENT, the old current AWSPREVIOUS. */
  const addVersion = (secret: FakeSecret, versionId: string, secretString: string): void => {
    for (const version of secret.versions.values()) {
      version.stages = version.stages.filter((s) => s !== 'AWSPREVIOUS');
      if (version.stages.includes('AWSCURRENT')) {
        version.stages = [...version.stages.filter((s) => s !== 'AWSCURRENT'), 'AWSPREVIOUS'];
      }
    }
    secret.versions.set(versionId, { secretString, stages: ['AWSCURRENT'], createdDate: new Date() });
  };

  const createSecret = (input: CreateSecretCommandInput): CreateSecretCommandOutput => {
    if (!input.Name) throw new InvalidRequestException({ ...meta, message: 'Name is required.' });
    if (secrets.has(input.Name)) throw exists(input.Name);
    const secret: FakeSecret = {
      arn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${input.Name}-${randomBytes(3).toString('hex')}`,
      name: input.Name,
      description: input.Description,
      kmsKeyId: input.KmsKeyId,
      tags: input.Tags ?? [],
      versions: new Map(),
      deletionDate: undefined,
    };
    secrets.set(input.Name, secret);
    if (input.SecretString === undefined) return { ...meta, ARN: secret.arn, Name: secret.name };
    const versionId = input.ClientRequestToken ?? randomUUID();
    addVersion(secret, versionId, input.SecretString);
    return { ...meta, ARN: secret.arn, Name: secret.name, VersionId: versionId };
  };

  const putSecretValue = (input: PutSecretValueCommandInput): PutSecretValueCommandOutput => {
    const secret = live(input.SecretId);
    const versionId = input.ClientRequestToken ?? randomUUID();
    const existing = secret.versions.get(versionId);
    if (existing) {
      // Idempotent retry with the same token and value; a different value under a used token is refused.
      if (existing.secretString !== input.SecretString) throw exists(secret.name);
    } else {
      addVersion(secret, versionId, input.SecretString ?? '');
    }
    return { ...meta, ARN: secret.arn, Name: secret.name, VersionId: versionId, VersionStages: secret.versions.get(versionId)?.stages ?? [] };
  };

  const getSecretValue = (input: GetSecretValueCommandInput): GetSecretValueCommandOutput => {
    const secret = live(input.SecretId);
    let versionId: string | undefined;
    if (input.VersionId !== undefined) {
      versionId = secret.versions.has(input.VersionId) ? input.VersionId : undefined;
    } else {
      const stage = input.VersionStage ?? 'AWSCURRENT';
      versionId = [...secret.versions.entries()].find(([, v]) => v.stages.includes(stage))?.[0];
    }
    const version = versionId === undefined ? undefined : secret.versions.get(versionId);
    if (versionId === undefined || !version) {
      throw notFound("Secrets Manager can't find the specified secret value for the requested version or staging label.");
    }
    return {
      ...meta,
      ARN: secret.arn,
      Name: secret.name,
      VersionId: versionId,
      SecretString: version.secretString,
      VersionStages: [...version.stages],
      CreatedDate: version.createdDate,
    };
  };

  const deleteSecret = (input: DeleteSecretCommandInput): DeleteSecretCommandOutput => {
    const secret = find(input.SecretId);
    if (!secret) throw notFound();
    const deletionDate = new Date(Date.now() + (input.ForceDeleteWithoutRecovery ? 0 : (input.RecoveryWindowInDays ?? 30) * 86_400_000));
    if (input.ForceDeleteWithoutRecovery) secrets.delete(secret.name);
    else secret.deletionDate = deletionDate;
    return { ...meta, ARN: secret.arn, Name: secret.name, DeletionDate: deletionDate };
  };

  // The SDK rejects with the exception; `callsFake` turns a throw into a rejection.
  const install = (): void => {
    mock.on(CreateSecretCommand).callsFake(async (input: CreateSecretCommandInput) => createSecret(input));
    mock.on(PutSecretValueCommand).callsFake(async (input: PutSecretValueCommandInput) => putSecretValue(input));
    mock.on(GetSecretValueCommand).callsFake(async (input: GetSecretValueCommandInput) => getSecretValue(input));
    mock.on(DeleteSecretCommand).callsFake(async (input: DeleteSecretCommandInput) => deleteSecret(input));
  };
  install();

  return {
    client: new SecretsManagerClient({ region: REGION, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
    mock,
    secrets,
    calls(commandName) {
      const wanted = commandName.endsWith('Command') ? commandName : `${commandName}Command`;
      return mock.calls().filter((call) => call.args[0]?.constructor.name === wanted).length;
    },
    reset() {
      secrets.clear();
      mock.reset();
      install();
    },
    restore() {
      mock.restore();
    },
    currentValue(name) {
      const secret = secrets.get(name);
      if (!secret) return undefined;
      for (const version of secret.versions.values()) if (version.stages.includes('AWSCURRENT')) return version.secretString;
      return undefined;
    },
  };
}
