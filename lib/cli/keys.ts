/**
 * `oauth-broker keys`: the signing keys of `private_key_jwt` profiles (docs/keys.md). `keys <id>` prints
 * what a server needs to trust a profile's assertions (the JWKS URL, the JWK, and a certificate made by the
 * key for servers that register certificates, such as Entra ID); `keys list|rotate|promote|withdraw` drive
 * the rotation through the admin routes `GET /keys` and `POST /keys/…`.
 */
import type { KeyMaterial, KeyRingView, ProfileKeyMaterial } from '../keys/signing-keys.js';
import { SIGNING_ALGORITHMS } from '../keys/signer.js';
import { UsageError, checkProfileId, integerOption } from './args.js';
import { hint, line as out, printJson } from './output.js';
import type { Command, Context } from './commands.js';

const SUBCOMMANDS = ['list', 'rotate', 'promote', 'withdraw', 'show'] as const;

/** Options a subcommand takes beyond the global ones. */
const OPTIONS_OF_SUBCOMMAND: Record<string, readonly string[]> = {
  list: [],
  rotate: ['alg', 'key-arn'],
  promote: ['alg', 'grace'],
  withdraw: ['kid'],
  show: ['certificate'],
};

function checkOptions(ctx: Context, subcommand: string): void {
  const allowed = OPTIONS_OF_SUBCOMMAND[subcommand] ?? [];
  for (const name of ['alg', 'key-arn', 'grace', 'kid', 'certificate'] as const) {
    if (ctx.args.options[name] !== undefined && !allowed.includes(name)) throw new UsageError(`option --${name} does not apply to "keys ${subcommand}"`, 'keys');
  }
  const alg = ctx.args.options.alg;
  if (alg !== undefined && !(SIGNING_ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--alg must be one of ${SIGNING_ALGORITHMS.join(', ')}, not "${alg}"`, 'keys');
}

/** `keys <sub>` takes no operand after the subcommand; `keys <id>` and `keys show <id>` exactly the id. */
function checkOperands(ctx: Context, subcommand: string): void {
  const expected = subcommand === 'show' ? (ctx.args.operands[0] === 'show' ? 2 : 1) : 1;
  const extra = ctx.args.operands[expected];
  if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" for "keys ${subcommand}"`, 'keys');
}

const isSubcommand = (word: string | undefined): word is (typeof SUBCOMMANDS)[number] => (SUBCOMMANDS as readonly string[]).includes(word ?? '');

export const keys: Command = async (ctx) => {
  const [first] = ctx.args.operands;
  if (first === undefined) throw new UsageError('"keys" needs a profile id, or one of list, rotate, promote, withdraw', 'keys');
  const subcommand = isSubcommand(first) ? first : 'show';
  checkOptions(ctx, subcommand);
  checkOperands(ctx, subcommand);
  const transport = ctx.client().transport;
  switch (subcommand) {
    case 'list': {
      const { body } = await transport.json<KeyRingView>('GET', '/keys');
      if (ctx.json) printJson(ctx, body);
      else printRing(ctx, body);
      return 0;
    }
    case 'rotate': {
      const { alg, 'key-arn': keyArn } = ctx.args.options;
      const { body } = await transport.json<KeyRingView>('POST', '/keys/rotate', { body: JSON.stringify({ ...(alg ? { alg } : {}), ...(keyArn ? { keyArn } : {}) }) });
      if (ctx.json) {
        printJson(ctx, body);
        return 0;
      }
      printRing(ctx, body);
      const next = body.keys.find((key) => key.status === 'next' && (!alg || key.alg === alg));
      out(ctx);
      out(ctx, `Published the next ${next?.alg ?? alg ?? 'ES256'} key${next ? ` ${next.kid}` : ''} in ${body.jwksUri}; it does not sign yet.`);
      hint(ctx, 'Servers that register a certificate or a JWK by hand (Entra ID, Okta without a JWKS URL) need the next key now: oauth-broker keys <profile-id>.');
      hint(ctx, `Then, after at least 6 minutes (the JWKS is cacheable for 5): oauth-broker keys promote${alg ? ` --alg ${alg}` : ''}`);
      return 0;
    }
    case 'promote': {
      const { alg } = ctx.args.options;
      const grace = integerOption(ctx.args.options.grace, 'grace', 300, 30 * 24 * 60 * 60, 'keys');
      const { body } = await transport.json<KeyRingView>('POST', '/keys/promote', {
        body: JSON.stringify({ ...(alg ? { alg } : {}), ...(grace !== undefined ? { graceSeconds: grace } : {}) }),
      });
      if (ctx.json) {
        printJson(ctx, body);
        return 0;
      }
      printRing(ctx, body);
      const retiring = body.keys.filter((key) => key.status === 'retiring' && key.published);
      out(ctx);
      out(ctx, 'The next key signs from now on.');
      for (const key of retiring) hint(ctx, `The previous key ${key.kid} stays published until ${key.withdrawAt}; then: oauth-broker keys withdraw`);
      return 0;
    }
    case 'withdraw': {
      const { kid } = ctx.args.options;
      const { body } = await transport.json<KeyRingView>('POST', '/keys/withdraw', { body: JSON.stringify(kid ? { kid } : {}) });
      if (ctx.json) printJson(ctx, body);
      else printRing(ctx, body);
      return 0;
    }
    case 'show': {
      const id = checkProfileId(first === 'show' ? requireId(ctx) : first, 'keys');
      const { body } = await transport.json<ProfileKeyMaterial>('GET', `/profiles/${encodeURIComponent(id)}/signing-key`);
      if (ctx.args.options.certificate) ctx.io.stdout.write(body.current.certificatePem);
      else if (ctx.json) printJson(ctx, body);
      else printProfileKey(ctx, body);
      return 0;
    }
  }
};

function requireId(ctx: Context): string {
  const id = ctx.args.operands[1];
  if (id === undefined) throw new UsageError('"keys show" needs <id>', 'keys');
  return id;
}

/** SHA-1 certificate thumbprint as Entra ID shows it: upper-case hex. */
const entraThumbprint = (x5t: string) => Buffer.from(x5t, 'base64url').toString('hex').toUpperCase();

function printMaterial(ctx: Context, label: string, key: KeyMaterial): void {
  out(ctx, `${label}: ${key.alg} key ${key.kid}`);
  out(ctx, `  JWK thumbprint (RFC 7638): ${key.thumbprint}`);
  out(ctx, `  Certificate thumbprint (SHA-1, as Entra ID shows it): ${entraThumbprint(key.x5t)}`);
  out(ctx, '  Public JWK:');
  out(ctx, `  ${JSON.stringify(key.jwk)}`);
  out(ctx, '  Certificate (self-signed by the key itself; upload it where a certificate is asked for):');
  out(ctx, key.certificatePem.trimEnd());
}

function printProfileKey(ctx: Context, material: ProfileKeyMaterial): void {
  out(ctx, `Profile "${material.profileId}" (client ${material.clientId}) authenticates with private_key_jwt.`);
  out(ctx, `JWKS URL (register it as the client's jwks_uri): ${material.jwksUri}`);
  out(ctx);
  printMaterial(ctx, 'Signing key', material.current);
  if (material.next) {
    out(ctx);
    printMaterial(ctx, 'Next key (register it too, before oauth-broker keys promote)', material.next);
  }
  hint(ctx, '');
  hint(ctx, `Certificate only: oauth-broker keys ${material.profileId} --certificate > ${material.profileId}.pem`);
}

function printRing(ctx: Context, ring: KeyRingView): void {
  if (ring.keys.length === 0) {
    out(ctx, 'No signing keys yet: the first one is made when a private_key_jwt profile is saved.');
    return;
  }
  const rows = [
    ['KID', 'ALG', 'STATUS', 'IN JWKS', 'KEY', 'WITHDRAW AT'],
    ...ring.keys.map((key) => [key.kid, key.alg, key.status, key.published ? 'yes' : 'no', key.key, key.withdrawAt ?? '-']),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  for (const row of rows) out(ctx, row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  out(ctx, `JWKS: ${ring.jwksUri}`);
}
