/**
 * `profiles get` of a private_key_jwt profile names its signing key instead of a client secret.
 */
import { describe, expect, it } from 'vitest';
import { profileDetails } from '../../../lib/cli/format.js';
import { makeView, NOW } from './fake-admin-broker.js';

describe('profileDetails with private_key_jwt', () => {
  it('shows the key\'s algorithm and id, and no secret state', () => {
    const view = makeView('erp', {}, {
      clientAuthMethod: 'private_key_jwt',
      hasClientSecret: false,
      signingKey: { kid: 'kid-123', alg: 'ES256', thumbprint: 'kid-123', certificateThumbprint: 'x5t', jwksUri: 'http://127.0.0.1:8787/jwks' },
    });
    const text = profileDetails(view, NOW);
    expect(text).toContain('erp-client (private_key_jwt, key ES256 kid-123)');
    expect(text).not.toContain('NO SECRET');
  });

  it('says when the profile has no signing key yet', () => {
    const view = makeView('erp', {}, { clientAuthMethod: 'private_key_jwt', hasClientSecret: false, signingKey: null });
    expect(profileDetails(view, NOW)).toContain('erp-client (private_key_jwt, no signing key)');
  });
});
