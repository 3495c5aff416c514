/**
 * The Secrets Manager `SecretVault` (docs/design.md "Ports and adapters"): the cloud home of each profile's
 * client secret and token set.
 */
import {
  CreateSecretCommand,
  DeleteSecretCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { SecretVault, TokenSet } from '../ports.js';
import { checkRequestToken, decodeTokenSet, encodeTokenSet, TokenSetCodecError } from './token-set-codec.js';

/** The tag that names the profile a secret belongs to (for cost reports, audits and IAM conditions). */
export const PROFILE_ID_TAG = 'oauth-broker:profile-id';

const CLIENT_SECRET = 'client-secret';
const TOKEN_SET = 'token-set';

export type SecretKind = typeof CLIENT_SECRET | typeof TOKEN_SET;

const DESCRIPTIONS: Record<SecretKind, (profileId: string) => string> = {
  [CLIENT_SECRET]: (id) => `oauth-broker: OAuth client secret of profile "${id}"`,
  [TOKEN_SET]: (id) => `oauth-broker: current OAuth token set (access and refresh token) of profile "${id}"`,
};

function hasName(error: unknown, name: string): boolean {
  return error instanceof Error && error.name === name;
}

/**
 * `SecretVault` on AWS Secrets Manager: two secrets per profile, `<prefix>/<profileId>/client-secret`
 * (the secret as a string) and `<prefix>/<profileId>/token-set` (the `TokenSet` as JSON), so that each has
 * its own versions, and IAM can grant on `<prefix>/*`.
 *
 * Writes go to `PutSecretValue` (a new version that becomes `AWSCURRENT`) and create the secret on first
 * use. The store records the version id `putTokenSet` returns, so readers can fetch exactly the token set a
 * status describes. AWS errors other than "not found" propagate unchanged (they never contain the value);
 * nothing here puts a secret value in an error or a log.
 *
 * "Not found" must reach this class as `ResourceNotFoundException`, not `AccessDeniedException`: the
 * functions' IAM policies grant the read, write and delete actions on the suffix-less name of a secret too
 * (see `cdk/permissions.ts`), which is what IAM evaluates for a secret that does not exist yet.
 */
export class SecretsManagerVault implements SecretVault {
  private readonly client: SecretsManagerClient;
  private readonly prefix: string;
  private readonly kmsKeyId: string | undefined;

  /**
   * @param options.prefix name prefix without a trailing `/` (one is removed if given), e.g. `oauth-broker/prod`
   * @param options.kmsKeyId customer managed KMS key for new secrets; default the account's `aws/secretsmanager`
   */
  constructor({ client, prefix, kmsKeyId }: { client: SecretsManagerClient; prefix: string; kmsKeyId?: string }) {
    this.client = client;
    this.prefix = prefix.replace(/\/+$/, '');
    if (this.prefix === '') throw new Error('SecretsManagerVault needs a non-empty prefix');
    this.kmsKeyId = kmsKeyId;
  }

  /** The name of one of a profile's secrets (for tests, IAM policies and operators). */
  secretName(profileId: string, kind: SecretKind): string {
    return `${this.prefix}/${profileId}/${kind}`;
  }

  async putClientSecret(profileId: string, clientSecret: string): Promise<void> {
    await this.write(profileId, CLIENT_SECRET, clientSecret);
  }

  async getClientSecret(profileId: string): Promise<string | undefined> {
    const value = await this.read(profileId, CLIENT_SECRET);
    if (value === undefined) return undefined;
    if (value === null) throw new Error('stored client secret is malformed');
    return value;
  }

  /**
   * Writes `tokens` as the new current version and returns its id. With `options.requestToken` (32 to 64
   * characters), the write is idempotent: the token is sent as `ClientRequestToken` and becomes the version
   * id, so a retry of the same write (same token, same token set) makes no new version, and reusing a token
   * for a different token set fails (`ResourceExistsException`). Such a retry answers the version it wrote
   * before, and does not make it current again if another write came in between. Without a request token,
   * the SDK makes a random one (every call is a new version).
   */
  async putTokenSet(profileId: string, tokens: TokenSet, options: { requestToken?: string } = {}): Promise<string> {
    checkRequestToken(options.requestToken);
    return this.write(profileId, TOKEN_SET, encodeTokenSet(tokens), options.requestToken);
  }

  async getTokenSet(profileId: string, version?: string): Promise<TokenSet | undefined> {
    const value = await this.read(profileId, TOKEN_SET, version);
    if (value === undefined) return undefined;
    if (value === null) throw new TokenSetCodecError();
    return decodeTokenSet(value);
  }

  async deleteClientSecret(profileId: string): Promise<void> {
    await this.deleteSecret(profileId, CLIENT_SECRET);
  }

  async deleteTokenSet(profileId: string): Promise<void> {
    await this.deleteSecret(profileId, TOKEN_SET);
  }

  async deleteProfileSecrets(profileId: string): Promise<void> {
    await Promise.all([CLIENT_SECRET, TOKEN_SET].map((kind) => this.deleteSecret(profileId, kind as SecretKind)));
  }

  /**
   * Deletes without a recovery window: a scheduled deletion keeps the name taken for 7 to 30 days, and
   * re-creating the profile (or giving it a client secret again) would fail until then. The broker deletes
   * a secret only when nothing uses it any more, so there is nothing to recover.
   */
  private async deleteSecret(profileId: string, kind: SecretKind): Promise<void> {
    try {
      await this.client.send(new DeleteSecretCommand({ SecretId: this.secretName(profileId, kind), ForceDeleteWithoutRecovery: true }));
    } catch (error) {
      if (!hasName(error, 'ResourceNotFoundException')) throw error;
    }
  }

  /**
   * Writes a new current version, creating the secret on first use; returns the version id. `requestToken`
   * goes to both PutSecretValue and CreateSecret, so whichever of them stores the value, the version id is the
   * same, and a repeated call finds its own version instead of adding one.
   */
  private async write(profileId: string, kind: SecretKind, value: string, requestToken?: string): Promise<string> {
    const name = this.secretName(profileId, kind);
    const token = requestToken !== undefined ? { ClientRequestToken: requestToken } : {};
    try {
      return await this.putValue(name, value, token);
    } catch (error) {
      if (!hasName(error, 'ResourceNotFoundException')) throw error;
    }
    try {
      const out = await this.client.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: value,
          Description: DESCRIPTIONS[kind](profileId),
          Tags: [{ Key: PROFILE_ID_TAG, Value: profileId }],
          ...(this.kmsKeyId !== undefined ? { KmsKeyId: this.kmsKeyId } : {}),
          ...token,
        }),
      );
      return requireVersionId(out.VersionId);
    } catch (error) {
      if (!hasName(error, 'ResourceExistsException')) throw error;
    }
    // Another writer created it between our PutSecretValue and CreateSecret: write on top of it, once.
    return this.putValue(name, value, token);
  }

  private async putValue(name: string, value: string, token: { ClientRequestToken?: string }): Promise<string> {
    const out = await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value, ...token }));
    return requireVersionId(out.VersionId);
  }

  /** The secret string; `undefined` when the secret (or version) does not exist, `null` when it has no string. */
  private async read(profileId: string, kind: SecretKind, version?: string): Promise<string | null | undefined> {
    try {
      const out = await this.client.send(
        new GetSecretValueCommand({
          SecretId: this.secretName(profileId, kind),
          ...(version !== undefined ? { VersionId: version } : {}),
        }),
      );
      return out.SecretString ?? null;
    } catch (error) {
      if (hasName(error, 'ResourceNotFoundException')) return undefined;
      throw error;
    }
  }
}

function requireVersionId(versionId: string | undefined): string {
  if (!versionId) throw new Error('Secrets Manager answered a write without a version id');
  return versionId;
}
