/**
 * A profile's stored configuration for tests that build records or compare configurations directly:
 * authorization code with PKCE at `https://as.example`, a confidential client (`client_secret_basic`).
 */
import type { ProfileConfig } from '../../lib/profile.js';

export function profileConfig(overrides: Partial<ProfileConfig> = {}): ProfileConfig {
  return {
    grantType: 'authorization_code',
    authorizationUrl: 'https://as.example/authorize',
    tokenUrl: 'https://as.example/token',
    issuer: null,
    clientId: 'mes-client',
    clientAuthMethod: 'client_secret_basic',
    scope: 'openid offline_access',
    authorizationParams: {},
    tokenParams: {},
    usePkce: true,
    defaultTokenLifetimeSeconds: 3600,
    revocationUrl: null,
    ...overrides,
  };
}
