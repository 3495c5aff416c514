/**
 * Every OAuth message the broker sends or reads, on oauth4webapi: nothing outside `lib/oauth/` builds an
 * authorization request, talks to a token endpoint or decides what an OAuth failure means. This module is
 * the entry point; the parts are requests, discovery, client authentication, the authorization request and
 * response, the token endpoint, and the failure classifier.
 */
export { assertEndpointAllowed, MAX_RESPONSE_BYTES, ResponseTooLargeError, boundedFetch, type Fetch, type OAuthOptions } from './oauth/requests.js';
export { DiscoveryCache, discoverAuthorizationServer, resolveAuthorizationServer, isIssuerKnown, type ResolveOptions } from './oauth/discovery.js';
export { clientAuthentication, basicAuthCredentials } from './oauth/client-auth.js';
export { buildAuthorizationRequest, AuthorizationResponseProblem, validateAuthorizationResponse, type AuthorizationRequest } from './oauth/authorization.js';
export { exchangeAuthorizationCode, refreshAccessToken, requestClientCredentialsToken, revokeToken, revocationServer, normalizeTokenResponse, jwtExpiry } from './oauth/token-endpoint.js';
export { OAuthFailure, isOAuthErrorCode, classifyOAuthError, retryAfterOf, redact, type FailureKind } from './oauth/failures.js';
