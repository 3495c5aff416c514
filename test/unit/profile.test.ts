import { describe, expect, it } from 'vitest';
import { BrokerError } from '../../lib/errors.js';
import {
  MAX_BODY_BYTES,
  RESERVED_AUTHORIZATION_PARAMS,
  assertProfileId,
  authorizationBinding,
  changedGrantFields,
  initialStatus,
  movedEndpoints,
  toView,
  tokensSurviveChange,
  type ProfileConfig,
  type ProfileRecord,
} from '../../lib/profile.js';
import { parseProfileInput } from '../../lib/profile-input.js';
import { profileConfig } from '../support/profile-config.js';

const SECRET = 'zz-Distinctive-Secret-Value-93e1c7';

const valid = (overrides: Record<string, unknown> = {}) =>
  JSON.stringify({
    authorizationUrl: 'https://as.example/authorize',
    tokenUrl: 'https://as.example/token',
    clientId: 'mes-client',
    clientSecret: SECRET,
    ...overrides,
  });

/** Runs `work`, expects a BrokerError, and returns it. */
function refusal(work: () => unknown): BrokerError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(BrokerError);
    return error as BrokerError;
  }
  throw new Error('expected the call to throw');
}

describe('parseProfileInput', () => {
  it('fills the defaults of docs/api.md', () => {
    // Prepare
    const body = JSON.stringify({ tokenUrl: 'https://as.example/token', authorizationUrl: 'https://as.example/a', clientId: 'c', clientSecret: 's' });

    // Act
    const { config, clientSecret } = parseProfileInput(body);

    // Assess
    expect(clientSecret).toBe('s');
    expect(config).toEqual({
      grantType: 'authorization_code',
      authorizationUrl: 'https://as.example/a',
      tokenUrl: 'https://as.example/token',
      issuer: null,
      clientId: 'c',
      clientAuthMethod: 'client_secret_basic',
      scope: null,
      authorizationParams: {},
      tokenParams: {},
      usePkce: true,
      defaultTokenLifetimeSeconds: 3600,
      revocationUrl: null,
    });
  });

  it('keeps the values it was given', () => {
    // Prepare
    const body = valid({
      grantType: 'client_credentials',
      clientAuthMethod: 'client_secret_post',
      scope: 'api.read api.write',
      authorizationParams: { audience: 'api://mes' },
      tokenParams: { resource: 'https://api.example' },
      usePkce: false,
      defaultTokenLifetimeSeconds: 60,
      revocationUrl: 'https://as.example/revoke',
    });

    // Act
    const { config } = parseProfileInput(body);

    // Assess
    expect(config).toMatchObject({
      grantType: 'client_credentials',
      clientAuthMethod: 'client_secret_post',
      scope: 'api.read api.write',
      authorizationParams: { audience: 'api://mes' },
      tokenParams: { resource: 'https://api.example' },
      usePkce: false,
      defaultTokenLifetimeSeconds: 60,
      revocationUrl: 'https://as.example/revoke',
    });
  });

  it('needs neither tokenUrl nor authorizationUrl when issuer is given', () => {
    // Act
    const { config } = parseProfileInput(JSON.stringify({ issuer: 'https://as.example', clientId: 'c', clientSecret: 's' }));

    // Assess
    expect(config).toMatchObject({ issuer: 'https://as.example', tokenUrl: null, authorizationUrl: null });
  });

  it('refuses a malformed URL', () => {
    // Act
    const error = refusal(() => parseProfileInput(valid({ tokenUrl: 'not a url' })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/tokenUrl/);
  });

  it.each(['http://as.example/token', 'http://10.0.0.1/token', 'http://127.0.0.1.nip.io/token', 'ftp://as.example/token'])(
    'refuses the non-https, non-loopback URL %s',
    (tokenUrl) => {
      // Act
      const error = refusal(() => parseProfileInput(valid({ tokenUrl })));

      // Assess
      expect(error.code).toBe('invalid_request');
      expect(error.message).toMatch(/tokenUrl.*https/);
    },
  );

  it.each(['http://127.0.0.1:9000/token', 'http://localhost:9000/token', 'http://[::1]:9000/token'])(
    'accepts the loopback http: URL %s in local mode',
    (tokenUrl) => {
      // Act
      const { config } = parseProfileInput(valid({ tokenUrl }), 'local');

      // Assess
      expect(config.tokenUrl).toBe(tokenUrl);
    },
  );

  it('refuses an unknown grantType', () => {
    // Act
    const error = refusal(() => parseProfileInput(valid({ grantType: 'password' })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/grantType/);
  });

  it.each([...RESERVED_AUTHORIZATION_PARAMS])('refuses the reserved authorizationParams key %s', (key) => {
    // Act
    const error = refusal(() => parseProfileInput(valid({ authorizationParams: { [key]: 'x' } })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain(key);
  });

  it('covers every reserved key docs/api.md names', () => {
    // Assess
    expect([...RESERVED_AUTHORIZATION_PARAMS].sort()).toEqual(
      ['client_id', 'code_challenge', 'code_challenge_method', 'redirect_uri', 'response_type', 'state'].sort(),
    );
  });

  it('refuses a body over 16 KiB and accepts one of exactly 16 KiB', () => {
    // Prepare
    const base = valid({ scope: '' });
    const padTo = (bytes: number) => base.replace('"scope":""', `"scope":"${'a'.repeat(bytes - base.length)}"`);
    const exact = padTo(MAX_BODY_BYTES);
    const over = padTo(MAX_BODY_BYTES + 1);

    // Act
    const error = refusal(() => parseProfileInput(over));

    // Assess
    expect(Buffer.byteLength(over)).toBe(16 * 1024 + 1);
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/16 KiB/);
    // At the limit the body is read (and refused by the scope length, not the size).
    expect(refusal(() => parseProfileInput(exact)).message).not.toMatch(/16 KiB/);
  });

  it('counts the size in bytes, not characters', () => {
    // Prepare: 6000 three-byte characters are 18000 bytes in 6000 characters.
    const body = valid({ clientId: '€'.repeat(6000) });

    // Act
    const error = refusal(() => parseProfileInput(body));

    // Assess
    expect(body.length).toBeLessThan(MAX_BODY_BYTES);
    expect(error.message).toMatch(/16 KiB/);
  });

  it.each([59, 86_401, 0, 3600.5])('refuses defaultTokenLifetimeSeconds %s', (seconds) => {
    // Act
    const error = refusal(() => parseProfileInput(valid({ defaultTokenLifetimeSeconds: seconds })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/defaultTokenLifetimeSeconds/);
  });

  it.each([60, 86_400])('accepts defaultTokenLifetimeSeconds %s', (seconds) => {
    // Act
    const { config } = parseProfileInput(valid({ defaultTokenLifetimeSeconds: seconds }));

    // Assess
    expect(config.defaultTokenLifetimeSeconds).toBe(seconds);
  });

  it('refuses an unknown field and names it', () => {
    // Act
    const error = refusal(() => parseProfileInput(valid({ tokenURL: 'https://as.example/token' })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toContain('tokenURL');
  });

  it('refuses a profile without tokenUrl and without issuer', () => {
    // Act
    const error = refusal(() => parseProfileInput(JSON.stringify({ authorizationUrl: 'https://as.example/a', clientId: 'c', clientSecret: 's' })));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/tokenUrl is required/);
  });

  it('refuses an authorization_code profile without authorizationUrl and without issuer', () => {
    // Act
    const error = refusal(() => parseProfileInput(JSON.stringify({ tokenUrl: 'https://as.example/token', clientId: 'c', clientSecret: 's' })));

    // Assess
    expect(error.message).toMatch(/authorizationUrl is required/);
  });

  it.each([
    ['an empty body', ''],
    ['a null body', null],
    ['malformed JSON', '{"clientId": '],
    ['a JSON array', '[]'],
    ['a JSON string', '"profile"'],
  ])('refuses %s', (_, body) => {
    // Act
    const error = refusal(() => parseProfileInput(body));

    // Assess
    expect(error.code).toBe('invalid_request');
  });

  it.each([
    ['a malformed URL', { tokenUrl: 'https://' }],
    ['a URL with the secret as user info', { tokenUrl: `https://user:${SECRET}@as.example/token` }],
    ['the secret in the wrong field', { grantType: SECRET }],
    ['the secret as scope', { scope: `${SECRET} "quoted"` }],
    ['a secret that is too long', { clientSecret: SECRET.repeat(200) }],
    ['a secret with clientAuthMethod none', { clientAuthMethod: 'none' }],
    ['the secret as the value of a reserved parameter', { authorizationParams: { state: SECRET } }],
    ['the secret in a number field', { defaultTokenLifetimeSeconds: SECRET }],
    ['the secret in an unknown field', { client_secret: SECRET }],
  ])('never quotes the client secret in its message: %s', (_, overrides) => {
    // Act
    const error = refusal(() => parseProfileInput(valid(overrides)));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(SECRET.slice(0, 12));
  });

  it('does not quote the secret from malformed JSON', () => {
    // Act
    const error = refusal(() => parseProfileInput(`{"clientSecret": "${SECRET}", }`));

    // Assess
    expect(error.message).not.toContain(SECRET);
  });
});

describe('assertProfileId', () => {
  it.each(['erp', 'a', '0', 'mes_prod-2', 'a'.repeat(64)])('accepts %s', (id) => {
    // Act / Assess
    expect(assertProfileId(id)).toBe(id);
  });

  it.each([
    ['upper case', 'ERP'],
    ['a leading dash', '-erp'],
    ['a leading underscore', '_erp'],
    ['65 characters', 'a'.repeat(65)],
    ['the empty string', ''],
    ['a slash', 'erp/prod'],
    ['a dot', 'erp.prod'],
    ['a trailing newline', 'erp\n'],
    ['undefined', undefined],
  ])('refuses %s', (_, id) => {
    // Act
    const error = refusal(() => assertProfileId(id));

    // Assess
    expect(error.code).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.reason).toBe('bad_profile_id');
  });
});

describe('toView', () => {
  it('shows hasClientSecret and the callback URL, never the client secret', () => {
    // Prepare
    const { config, clientSecret } = parseProfileInput(valid());
    const record: ProfileRecord = {
      id: 'erp',
      config,
      hasClientSecret: clientSecret !== undefined,
      status: initialStatus(),
      tokenVersion: null,
      createdAt: '2026-01-15T10:00:00.000Z',
      updatedAt: '2026-01-15T10:00:00.000Z',
      revision: 1,
      lease: { owner: 'lease-owner-1', expiresAt: 1_800_000_000_000 },
      stagedTokens: 'sealed-staged-token-blob',
    };

    // Act
    const view = toView(record, 'https://broker.example/callback');

    // Assess
    const text = JSON.stringify(view);
    expect(text).not.toContain(SECRET);
    expect(view).not.toHaveProperty('clientSecret');
    expect(view).not.toHaveProperty('revision');
    expect(view).not.toHaveProperty('tokenVersion');
    expect(text).not.toContain('sealed-staged-token-blob');
    expect(text).not.toContain('lease-owner-1');
    expect(view).toMatchObject({ id: 'erp', hasClientSecret: true, callbackUrl: 'https://broker.example/callback' });
    expect(view.status.state).toBe('authorization_required');
  });
});

describe('tokensSurviveChange', () => {
  const base = profileConfig();
  const change = (overrides: Partial<ProfileConfig>, before: ProfileConfig = base) => tokensSurviveChange(before, { ...before, ...overrides });

  it.each<[string, Partial<ProfileConfig>]>([
    ['the scope', { scope: 'openid' }],
    ['the authorization URL', { authorizationUrl: 'https://as.example/v2/authorize' }],
    ['the client auth method', { clientAuthMethod: 'client_secret_post' }],
    ['the token parameters', { tokenParams: { resource: 'api://mes' } }],
    ['the revocation URL', { revocationUrl: 'https://as.example/revoke' }],
    ['the issuer, while tokenUrl is set (docs/api.md: only clientId or tokenUrl)', { issuer: 'https://as.example' }],
    ['the spelling of the same tokenUrl', { tokenUrl: 'HTTPS://AS.EXAMPLE:443/token' }],
  ])('keeps the tokens when only %s changes', (_, overrides) => {
    // Act / Assess
    expect(change(overrides)).toBe(true);
  });

  it.each<[string, Partial<ProfileConfig>]>([
    ['clientId', { clientId: 'other-client' }],
    ['tokenUrl', { tokenUrl: 'https://other.example/token' }],
    ['grantType (a token of another grant is not this grant: an addition to docs/api.md)', { grantType: 'client_credentials' }],
  ])('discards the tokens when %s changes', (_, overrides) => {
    // Act / Assess
    expect(change(overrides)).toBe(false);
  });

  it('compares the issuer when the token endpoint is discovered from it', () => {
    // Prepare
    const discovered: ProfileConfig = { ...base, tokenUrl: null, authorizationUrl: null, issuer: 'https://as.example' };

    // Act / Assess
    expect(change({ scope: 'openid' }, discovered)).toBe(true);
    expect(change({ issuer: 'https://as.example/' }, discovered)).toBe(true);
    expect(change({ issuer: 'https://other.example' }, discovered)).toBe(false);
  });

  it('discards the tokens when the token endpoint goes from discovered to explicit, or back', () => {
    // Prepare
    const discovered: ProfileConfig = { ...base, tokenUrl: null, issuer: 'https://as.example' };

    // Act / Assess
    expect(change({ tokenUrl: 'https://as.example/token' }, discovered)).toBe(false);
    expect(change({ tokenUrl: null }, { ...discovered, tokenUrl: 'https://as.example/token' })).toBe(false);
  });
});

describe('movedEndpoints (docs/api.md: moving an endpoint needs the client secret again)', () => {
  it.each<[string, Partial<ProfileConfig>, string[]]>([
    ['the same URLs, written differently', { tokenUrl: 'HTTPS://AS.example:443/token' }, []],
    ['another path on the same origin', { tokenUrl: 'https://as.example/v2/token' }, []],
    ['another host', { tokenUrl: 'https://attacker.example/token' }, ['tokenUrl']],
    ['another port', { authorizationUrl: 'https://as.example:8443/authorize' }, ['authorizationUrl']],
    ['another scheme', { tokenUrl: 'http://as.example/token' }, ['tokenUrl']],
    ['an issuer where there was none', { issuer: 'https://attacker.example' }, ['issuer']],
    ['a revocationUrl where there was none', { revocationUrl: 'https://attacker.example/revoke' }, ['revocationUrl']],
    ['a field removed', { authorizationUrl: null, issuer: null }, []],
  ])('%s → %j', (_, change, moved) => {
    expect(movedEndpoints(profileConfig(), profileConfig(change))).toEqual(moved);
  });
});

describe('authorizationBinding', () => {
  it('changes with the endpoints and the client, not with the scope or the secret', () => {
    const binding = authorizationBinding(profileConfig());
    expect(authorizationBinding(profileConfig({ tokenUrl: 'https://as.example/token' }))).toBe(binding);
    expect(authorizationBinding(profileConfig({ scope: 'openid' }))).toBe(binding);
    expect(authorizationBinding(profileConfig({ tokenUrl: 'https://other.example/token' }))).not.toBe(binding);
    expect(authorizationBinding(profileConfig({ revocationUrl: 'https://as.example/revoke' }))).not.toBe(binding);
    expect(authorizationBinding(profileConfig({ clientId: 'other' }))).not.toBe(binding);
    expect(authorizationBinding(profileConfig({ clientAuthMethod: 'client_secret_post' }))).not.toBe(binding);
  });
});

describe('changedGrantFields', () => {
  it('names the grant, client and endpoint fields an edit changed, URLs compared normalised', () => {
    expect(changedGrantFields(profileConfig(), profileConfig({ tokenUrl: 'HTTPS://as.example/token', scope: 'x' }))).toEqual([]);
    expect(changedGrantFields(profileConfig(), profileConfig({ clientId: 'b', revocationUrl: 'https://as.example/r' }))).toEqual(['clientId', 'revocationUrl']);
  });
});
