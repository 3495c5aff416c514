/**
 * What each function may do: the least-privilege table of the stack (issue "least privilege"). Each
 * function gets exactly these actions, on exactly these resources:
 *
 * - table actions on the table ARN only; `Query` on the named indexes only;
 * - Secrets Manager actions on `<prefix>/<any id>/client-secret-??????` and/or `<prefix>/<any id>/token-set-??????`
 *   (`??????` is the random suffix Secrets Manager appends to every secret ARN);
 * - KMS `Encrypt`/`Decrypt`/`GenerateDataKey` on the broker's key, only through Secrets Manager and only
 *   for secrets under the prefix (`kms:ViaService`, `kms:EncryptionContext:SecretARN`);
 * - `events:PutEvents` on the default bus, only with source `oauth-broker`.
 */
export type FunctionKey = 'profiles' | 'authorizeUrl' | 'callback' | 'token' | 'refresh';

export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query';
export type SecretAction = 'CreateSecret' | 'PutSecretValue' | 'GetSecretValue' | 'DeleteSecret' | 'DescribeSecret' | 'TagResource';
export type IndexKey = 'gsi1' | 'due';

export interface FunctionGrants {
  readonly table: readonly TableAction[];
  readonly queryIndexes: readonly IndexKey[];
  readonly clientSecret: readonly SecretAction[];
  readonly tokenSet: readonly SecretAction[];
  /** Status changes are published as `Profile Status Changed` events (lifecycle issue). */
  readonly putEvents: boolean;
}

export const FUNCTION_GRANTS: Readonly<Record<FunctionKey, FunctionGrants>> = {
  // PUT/GET/DELETE /profiles/{id}, GET /profiles, POST /profiles/{id}/refresh. Deleting a profile deletes
  // its pending authorizations (Query gsi1) and both secrets; refresh-now and revocation on delete read
  // the token set; replacing a profile writes the client secret.
  profiles: {
    table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query'],
    queryIndexes: ['gsi1', 'due'],
    clientSecret: ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DeleteSecret', 'DescribeSecret', 'TagResource'],
    tokenSet: ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DeleteSecret', 'DescribeSecret', 'TagResource'],
    putEvents: true,
  },
  // GET /profiles/{id}/authorize-url: reads the profile, writes one pending authorization. No secrets.
  authorizeUrl: {
    table: ['GetItem', 'PutItem'],
    queryIndexes: [],
    clientSecret: [],
    tokenSet: [],
    putEvents: false,
  },
  // GET /callback: reads and consumes (conditional delete) the pending authorization, exchanges the code
  // with the client secret, stores the first token set and the status.
  callback: {
    table: ['GetItem', 'DeleteItem', 'UpdateItem'],
    queryIndexes: ['gsi1'],
    clientSecret: ['GetSecretValue'],
    tokenSet: ['CreateSecret', 'PutSecretValue', 'TagResource', 'GetSecretValue'],
    putEvents: true,
  },
  // GET /profiles/{id}/token: reads the profile and token set; refreshes inline under the lease (an
  // UpdateItem); a client-credentials profile gets its first token set here (CreateSecret). No deletes.
  token: {
    table: ['GetItem', 'UpdateItem'],
    queryIndexes: [],
    clientSecret: ['GetSecretValue'],
    tokenSet: ['GetSecretValue', 'PutSecretValue', 'CreateSecret', 'TagResource'],
    putEvents: true,
  },
  // The scheduled job: finds due profiles on the sparse `due` index, refreshes each under the lease.
  refresh: {
    table: ['GetItem', 'UpdateItem'],
    queryIndexes: ['due'],
    clientSecret: ['GetSecretValue'],
    tokenSet: ['GetSecretValue', 'PutSecretValue'],
    putEvents: true,
  },
};
