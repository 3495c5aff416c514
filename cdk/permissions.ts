/**
 * What each function may do: the least-privilege table of the stack (issue "least privilege"). Each
 * function gets exactly these actions, on exactly these resources:
 *
 * - table actions on the table ARN only; `Query` on the named indexes only (every query of the store
 *   adapter goes to an index, so no function queries the table itself);
 * - Secrets Manager actions on `<prefix>/<any id>/client-secret` and/or `<prefix>/<any id>/token-set`, in
 *   the two forms described below;
 * - KMS `Encrypt`/`Decrypt`/`GenerateDataKey` on the broker's key, only through Secrets Manager and only
 *   for secrets under the prefix (`kms:ViaService`, `kms:EncryptionContext:SecretARN`);
 * - `events:PutEvents` on the default bus, only with source `oauth-broker`.
 *
 * Secret ARNs, and why each action is granted on two of them:
 *
 * - An existing secret's ARN is its name plus `-` and six random characters, so the actions on existing
 *   secrets (`GetSecretValue`, `PutSecretValue`, `DeleteSecret`) are granted on `…/<kind>-??????`.
 * - A request naming a secret that does not exist (yet, or any more) has no such ARN: IAM then evaluates it
 *   against the ARN built from the name alone, `…/<kind>`, with no suffix. Granted only `-??????`, such a
 *   request is refused with `AccessDeniedException` before Secrets Manager can answer
 *   `ResourceNotFoundException`, and the vault (lib/adapters/secrets-manager-vault.ts) cannot tell "missing"
 *   from "forbidden": the first `PutSecretValue` of a profile would fail instead of falling back to
 *   `CreateSecret`, reading a token set that was never written would fail instead of answering "none", and
 *   deleting a profile that never got a token set would fail instead of skipping it. So the same actions
 *   are also granted on the suffix-less `…/<kind>`. That grant reaches no existing secret: every real ARN
 *   ends in `-` and six characters, which `…/client-secret` and `…/token-set` cannot match; it only turns
 *   AccessDenied into ResourceNotFound for names under the prefix that hold no secret.
 * - `CreateSecret` (and the `TagResource` it implies, since secrets are created tagged) is evaluated before
 *   the suffix exists: it is granted on `…/<kind>*`, only with the profile-id tag key.
 */
export type FunctionKey = 'profiles' | 'authorizeUrl' | 'callback' | 'token' | 'refresh';

export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'Query';
export type SecretAction = 'CreateSecret' | 'PutSecretValue' | 'GetSecretValue' | 'DeleteSecret' | 'TagResource';
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
  // PUT/GET/DELETE /profiles/{id}, GET /profiles, POST /profiles/{id}/refresh. Listing profiles and deleting
  // a profile's pending authorizations query `gsi1`; deleting a profile deletes both secrets; refresh-now
  // and revocation on delete read the token set, and refresh-now writes it (a client-credentials profile's
  // first one included); creating or replacing a profile writes the client secret.
  profiles: {
    table: ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'],
    queryIndexes: ['gsi1'],
    clientSecret: ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DeleteSecret', 'TagResource'],
    tokenSet: ['CreateSecret', 'PutSecretValue', 'GetSecretValue', 'DeleteSecret', 'TagResource'],
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
  // GET /callback: reads and consumes (conditional delete) the pending authorization by its key (no index),
  // exchanges the code with the client secret, stores the first token set and the status.
  callback: {
    table: ['GetItem', 'DeleteItem', 'UpdateItem'],
    queryIndexes: [],
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
  // The scheduled job: finds due profiles on the sparse `due` index, refreshes each under the lease. A new
  // client-credentials profile is due at once, so its first token set may be obtained here: the job creates
  // token-set secrets (CreateSecret, tagged), but never client secrets.
  refresh: {
    table: ['GetItem', 'UpdateItem'],
    queryIndexes: ['due'],
    clientSecret: ['GetSecretValue'],
    tokenSet: ['GetSecretValue', 'PutSecretValue', 'CreateSecret', 'TagResource'],
    putEvents: true,
  },
};
