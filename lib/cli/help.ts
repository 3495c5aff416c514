/**
 * `--help` texts: the top level and one per command, each with examples.
 */

export const DEFAULT_URL = 'http://127.0.0.1:8787';

const EXIT_CODES = `Exit codes:
  0  success
  1  failure: an error answer of the broker, the broker unreachable, a refresh that failed, an
     authorization that failed while --wait waited
  2  usage error: unknown command or option, missing or bad argument, unreadable or invalid profile file
  3  not ready: the profile needs a person to authorize it (409 authorization_required), or --wait timed out`;

const GLOBAL = `Global options:
  --url <url>      the broker's base URL; default $BROKER_URL, else ${DEFAULT_URL} (local mode, npm start).
                   In AWS, the API Gateway stage URL (output ApiUrl of cdk deploy). Requests to any URL
                   but loopback are signed with SigV4 (service execute-api) using the default AWS
                   credential chain (AWS_PROFILE, environment, SSO, instance or task role).
  --region <name>  the region to sign for; default: from an execute-api URL, else $AWS_REGION
  --json           machine-readable output: JSON on stdout, errors as JSON on stderr
  --debug          show stack traces of errors
  -h, --help       show help (also: oauth-broker help <command>)
  -v, --version    show the version`;

export const TOP_HELP = `oauth-broker: administer the OAuth token broker and fetch its tokens

Usage: oauth-broker <command> [options]

Commands:
  profiles list                  list the profiles
  profiles get <id>              show a profile and its status
  profiles put <id> --file <f>   create or replace a profile from a JSON file (- reads stdin)
  profiles delete <id>           delete a profile with its secrets and tokens
  status [<id>...]               the health table: ✓ ready / ✗ not, state, time to expiry, last error
  authorize <id>                 print the authorization URL ("Copy Authorization URL");
                                 --open opens the browser, --wait waits until the profile is ready
  token <id>                     print the profile's current access token
  refresh <id>                   refresh the profile's tokens now
  policy <id> --role <arn>       print the IAM policy that lets a role fetch this profile's token
  keys <id>                      print a private_key_jwt profile's JWKS URL, JWK and certificate
  keys list|rotate|promote|withdraw
                                 the signing keys and their rotation (docs/keys.md)
  doctor <env>                   check a deployed environment: ✓/✗ per role, alarm, schedule, table,
                                 key and callback (the first command after cdk deploy)
  console [--port N] [--open]    the web console for the broker at --url, on 127.0.0.1

${GLOBAL}

${EXIT_CODES}

Examples:
  npm start                                  # the local broker, with a demo profile
  oauth-broker status
  oauth-broker authorize demo --open --wait  # consent in the browser, wait for ✓
  oauth-broker token demo
  curl -H "Authorization: Bearer $(oauth-broker token demo)" https://api.example.com/orders
  oauth-broker --url https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod status

Run oauth-broker <command> --help for a command's options and examples.
`;

const COMMAND_HELP: Record<string, string> = {
  profiles: `Usage: oauth-broker profiles <list|get|put|delete> …

  profiles list                  list the profiles
  profiles get <id>              show a profile and its status
  profiles put <id> --file <f>   create or replace a profile from a JSON file (- reads stdin)
  profiles delete <id>           delete a profile with its secrets and tokens

Run oauth-broker profiles <subcommand> --help for details.
`,
  'profiles list': `Usage: oauth-broker profiles list [--json]

Lists the profiles: ✓ / ✗, id, grant type, state, client id, scope.
With --json, prints the broker's answer {"profiles": [view, …]} (client secrets are never included).

Examples:
  oauth-broker profiles list
  oauth-broker profiles list --json | jq -r '.profiles[].id'
`,
  'profiles get': `Usage: oauth-broker profiles get <id> [--json]

Shows a profile: its endpoints, client (never the secret), scope, callback URL and status.
With --json, prints the profile view of the broker's contract.

Examples:
  oauth-broker profiles get erp
  oauth-broker profiles get erp --json | jq .status.state
`,
  'profiles put': `Usage: oauth-broker profiles put <id> --file <file> [--json]

Creates or replaces profile <id> from a JSON file (PUT /profiles/<id>); --file - reads stdin.
Fields: grantType (authorization_code | client_credentials), authorizationUrl, tokenUrl, issuer,
clientId, clientSecret (write-only; omit on update to keep it), clientAuthMethod, scope,
authorizationParams, tokenParams, usePkce, defaultTokenLifetimeSeconds, revocationUrl,
clientAssertionAlgorithm and clientAssertionAudience (private_key_jwt: no client secret; see
oauth-broker keys --help).
Prints the callback URL to register at the authorization server as a redirect URI.

Options:
  -f, --file <file>  the profile JSON, or - for stdin

Examples:
  oauth-broker profiles put erp --file erp.json
  cat erp.json | oauth-broker profiles put erp --file -

  erp.json:
  {
    "authorizationUrl": "https://login.example.com/oauth2/authorize",
    "tokenUrl": "https://login.example.com/oauth2/token",
    "clientId": "mes-erp",
    "clientSecret": "…",
    "scope": "openid offline_access erp.read"
  }
`,
  'profiles delete': `Usage: oauth-broker profiles delete <id> [--json]

Deletes profile <id>; its client secret, tokens and pending authorizations go with it (the grant is
revoked at the authorization server when it offers revocation).

Example:
  oauth-broker profiles delete erp
`,
  status: `Usage: oauth-broker status [<id>...] [--json]

The health of the profiles, the seed's green check mark: ✓ only when the state is ready, then the id,
the state, the time until the held access token expires (59m, 2h 5m, expired, - when none) and the
last error: its code and the broker's sentence (a refused authorization shows here too).
States: ready, authorization_required, refresh_failing, expired, error.

Without ids, lists every profile and exits 0. With ids, exits 3 unless all of them are ready.

Examples:
  oauth-broker status
  oauth-broker status erp && echo "erp is ready"
  oauth-broker status --json
`,
  authorize: `Usage: oauth-broker authorize <id> [--open] [--wait [--timeout <seconds>]] [--json]

Starts an authorization of an authorization_code profile and prints its authorization URL (the seed's
"Copy Authorization URL"): open it in a browser, sign in and consent; the authorization server then
redirects to the broker's callback URL, which must be registered there. Each URL is single use and
valid 10 minutes. Only https: URLs (http: on loopback) are printed or opened; any other scheme is
refused (exit 1).

Options:
  --open               also open the URL in the system browser (xdg-open, open or start); when none
                       can be, says why, and the printed URL is all you need (over SSH, with a tunnel
                       to the loopback callback: ssh -L 8787:127.0.0.1:8787 <user>@<host>)
  --wait               then wait until the profile is ready (a spinner on a terminal); exits 0 when it
                       is, 1 as soon as the authorization fails (the profile's lastError, e.g. a refused
                       code exchange or access_denied) or the profile turns to error, 3 on timeout
  --timeout <seconds>  how long --wait waits (default 300)

With --json, prints one JSON object per line: {"authorizationUrl", "callbackUrl", "expiresAt"} first,
and with --wait the profile's final status.

Examples:
  oauth-broker authorize erp
  oauth-broker authorize erp --open --wait
  oauth-broker authorize erp --wait --timeout 600 --json
`,
  token: `Usage: oauth-broker token <id> [--min-validity <seconds>] [--json]

Prints the profile's current access token, and only the token, for scripts. The broker refreshes first
when the token would not stay valid --min-validity seconds (0..3600, default 60). With --json, prints
the broker's answer {"access_token", "token_type", "expires_at", "expires_in", "scope"}.
Exits 3 when the profile needs authorization first.

Examples:
  oauth-broker token erp
  curl -H "Authorization: Bearer $(oauth-broker token erp --min-validity 300)" https://erp.example.com/api/orders
  oauth-broker token erp --json | jq .expires_at
`,
  refresh: `Usage: oauth-broker refresh <id> [--json]

Refreshes the profile's tokens now (POST /profiles/<id>/refresh) and prints the outcome.
Exits 0 when the profile is ready afterwards, 3 when it needs authorization (no refresh token, or the
grant was revoked: invalid_grant), 1 when the refresh failed otherwise.

Examples:
  oauth-broker refresh erp
  oauth-broker refresh erp --json | jq .status
`,
  policy: `Usage: oauth-broker policy <id> --role <role-arn> [--api-arn <execute-api-arn-prefix>] [--url <stage-url>]

Prints the identity-based IAM policy to attach to a consumer's role so that it may fetch this profile's
token, and nothing else: execute-api:Invoke on
  arn:aws:execute-api:<region>:<account>:<apiId>/<stage>/GET/profiles/<id>/token
No request is made to the broker.

The API is named by --api-arn (arn:aws:execute-api:<region>:<account>:<apiId>/<stage>), or derived from
--url / $BROKER_URL when it is an API Gateway stage URL (https://<apiId>.execute-api.<region>.amazonaws.com/<stage>):
a URL does not name the API's account, so the account (and partition) are taken from the role ARN.
When the API lives in another account than the role, pass --api-arn.

Options:
  --role <arn>     the IAM role of the consumer, e.g. arn:aws:iam::123456789012:role/erp-sync
  --api-arn <arn>  the API's execute-api ARN prefix with its stage

Examples:
  oauth-broker policy erp --role arn:aws:iam::123456789012:role/erp-sync \\
    --url https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod > policy.json
  aws iam put-role-policy --role-name erp-sync --policy-name oauth-broker-token-erp --policy-document file://policy.json
  oauth-broker policy erp --role arn:aws:iam::123456789012:role/erp-sync \\
    --api-arn arn:aws:execute-api:eu-central-1:210987654321:a1b2c3d4e5/prod
`,
  keys: `Usage: oauth-broker keys <id> [--certificate] [--json]
       oauth-broker keys list | rotate [--alg <alg>] [--key-arn <arn>] | promote [--alg <alg>] [--grace <seconds>] | withdraw [--kid <kid>]

Profiles with clientAuthMethod "private_key_jwt" have no client secret: the broker signs each client
assertion (RFC 7523) with its own key, ES256 by default (clientAssertionAlgorithm: RS256 or PS256 for
servers that need RSA). In AWS the key is a KMS key and never leaves KMS; in local mode it is sealed in
the local vault. Servers trust it through the broker's public JWKS URL, or a certificate made by the key.

  keys <id>        the profile's JWKS URL, key id, JWK thumbprint (RFC 7638), public JWK and a
                   self-signed certificate (PEM) with its SHA-1 thumbprint as Entra ID shows it; also
                   the next key while a rotation is under way. (keys show <id> for an id such as "list".)
  keys list        every key: status (next, current, retiring, withdrawn), whether the JWKS lists it
  keys rotate      publish a next key in the JWKS; it does not sign yet. In AWS it is the next unused
                   key of BROKER_SIGNING_KEYS (or --key-arn); locally a new key is made.
  keys promote     the next key signs from now; the previous one stays published for --grace seconds
                   (default 86400). Refused until the next key has been published 330 s (JWKS caching).
  keys withdraw    record the withdrawal of retiring keys whose grace period ended (they leave the JWKS
                   at that time anyway, and the refresh schedule records it too); --kid withdraws a
                   retiring or next key at once.

Options:
  --certificate     print only the certificate (PEM) of the profile's signing key
  --alg <alg>       ES256 (default), RS256 or PS256
  --key-arn <arn>   rotate to this KMS key (one of BROKER_SIGNING_KEYS)
  --grace <seconds> how long the replaced key stays published (300..2592000)
  --kid <kid>       the key to withdraw now

Examples:
  oauth-broker keys erp
  oauth-broker keys erp --certificate > erp.pem    # Entra ID: Certificates & secrets > Upload certificate
  oauth-broker keys rotate
  oauth-broker keys promote --grace 172800
  oauth-broker keys withdraw
`,
  doctor: `Usage: oauth-broker doctor <env> [--stack <name>] [--region <name>] [--json]

Checks a deployed environment with your AWS credentials (the default credential chain) and prints ✓ or ✗
per check, with what to do about each ✗. It changes nothing. Run it after every cdk deploy.

It reads the outputs of stack OAuthBroker-<env> (or --stack) and checks:
  - each function's role: IAM's policy simulator (SimulatePrincipalPolicy) allows every AWS call the
    function's code sends, on the exact resources (KMS with the secrets key's policy);
  - the alarm topic has a confirmed subscription (pending or none: alarms reach nobody);
  - the refresh schedule rule is enabled;
  - the table has point-in-time recovery, and deletion protection where the environment keeps its data;
  - the secrets key rotates automatically;
  - the callback URL answers its 400 page to an unsigned GET without parameters.
Your credentials need cloudformation:DescribeStacks, iam:SimulatePrincipalPolicy, sns:ListSubscriptionsByTopic,
events:DescribeRule, dynamodb:DescribeTable, dynamodb:DescribeContinuousBackups, kms:GetKeyPolicy and
kms:GetKeyRotationStatus. Exit code 0 when every check passes, 1 when any fails. See docs/doctor.md.

Options:
  --stack <name>   the stack name, when it is not OAuthBroker-<env>
  --region <name>  the stack's region; default $AWS_REGION

Examples:
  npx cdk deploy -c env=prod && oauth-broker doctor prod --region eu-central-1
  oauth-broker doctor prod --json | jq '.checks[] | select(.ok | not)'
`,
  console: `Usage: oauth-broker console [--url <ApiUrl>] [--port <N>] [--open]

Serves the web console (profiles with their ✓, the profile form, Authorize, Copy Authorization URL,
Refresh now, Delete) on http://127.0.0.1:<port>/console for the broker at --url, usually a deployed
one (the ApiUrl output of cdk deploy). The console's calls are forwarded to that API signed with your
AWS credentials (default chain: AWS_PROFILE, environment, SSO, instance or task role), so IAM decides
what you may do; actions you may not take show "Not allowed". Nothing is deployed for it. It answers
only pages of its own origin on 127.0.0.1 or localhost. Local mode (npm start) serves the same console
itself at http://127.0.0.1:8787/console.

Options:
  --port <N>  the loopback port (default 8789; 0 picks a free one)
  --open      also open the console in the system browser

Stop it with Ctrl-C.

Examples:
  oauth-broker console --url https://a1b2c3d4e5.execute-api.eu-central-1.amazonaws.com/prod --open
  AWS_PROFILE=ops oauth-broker console --url "$API_URL" --port 9000
`,
};

export function helpFor(command: string | undefined): string | undefined {
  if (command === undefined) return TOP_HELP;
  const text = COMMAND_HELP[command];
  if (!text) return undefined;
  return `${text}\n${GLOBAL}\n\n${EXIT_CODES}\n`;
}

/** The first line of a command's help, for usage errors. */
export function usageLine(command: string | undefined): string {
  const text = command === undefined ? undefined : COMMAND_HELP[command];
  return (text ?? TOP_HELP).split('\n').find((line) => line.startsWith('Usage:')) ?? 'Usage: oauth-broker <command> [options]';
}
