/**
 * The Secrets Manager `SecretVault` (DESIGN.md "Ports and adapters"): the cloud home of each profile's
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

  async putTokenSet(profileId: string, tokens: TokenSet): Promise<string> {
    const stored: TokenSet = {
      accessToken: tokens.accessToken,
      tokenType: tokens.tokenType,
      expiresAt: tokens.expiresAt,
      refreshToken: tokens.refreshToken,
      scope: tokens.scope,
      obtainedAt: tokens.obtainedAt,
    };
    return this.write(profileId, TOKEN_SET, JSON.stringify(stored));
  }

  async getTokenSet(profileId: string, version?: string): Promise<TokenSet | undefined> {
    const value = await this.read(profileId, TOKEN_SET, version);
    if (value === undefined) return undefined;
    if (value === null) throw new Error('stored token set is malformed');
    return parseTokenSet(value);
  }

  async deleteProfileSecrets(profileId: string): Promise<void> {
    await Promise.all(
      [CLIENT_SECRET, TOKEN_SET].map(async (kind) => {
        try {
          // Without a recovery window: a scheduled deletion keeps the name taken for 7 to 30 days, and
          // re-creating a profile with the same id would fail until then. The broker deletes a profile's
          // secrets only when the profile itself is deleted, so there is nothing to recover.
          await this.client.send(
            new DeleteSecretCommand({
              SecretId: this.secretName(profileId, kind as SecretKind),
              ForceDeleteWithoutRecovery: true,
            }),
          );
        } catch (error) {
          if (!hasName(error, 'ResourceNotFoundException')) throw error;
        }
      }),
    );
  }

  /** Writes a new current version, creating the secret on first use; returns the version id. */
  private async write(profileId: string, kind: SecretKind, value: string): Promise<string> {
    const name = this.secretName(profileId, kind);
    try {
      return await this.putValue(name, value);
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
        }),
      );
      return requireVersionId(out.VersionId);
    } catch (error) {
      if (!hasName(error, 'ResourceExistsException')) throw error;
    }
    // Another writer created it between our PutSecretValue and CreateSecret: write on top of it, once.
    return this.putValue(name, value);
  }

  private async putValue(name: string, value: string): Promise<string> {
    const out = await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
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

const isString = (v: unknown): v is string => typeof v === 'string';
const isNullableString = (v: unknown): v is string | null => v === null || typeof v === 'string';

/**
 * Parses a stored token set. Any failure throws one fixed message: neither the content nor the parser's own
 * message (which can quote the input) may reach an error or a log.
 */
function parseTokenSet(value: string): TokenSet {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    throw new Error('stored token set is malformed');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new Error('stored token set is malformed');
  const o = json as Record<string, unknown>;
  const { accessToken, tokenType, expiresAt, refreshToken, scope, obtainedAt } = o;
  if (
    !isString(accessToken) ||
    accessToken === '' ||
    !isString(tokenType) ||
    !isString(expiresAt) ||
    !isNullableString(refreshToken) ||
    !isNullableString(scope) ||
    !isString(obtainedAt)
  ) {
    throw new Error('stored token set is malformed');
  }
  return { accessToken, tokenType, expiresAt, refreshToken, scope, obtainedAt };
}
