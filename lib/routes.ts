/**
 * The HTTP routes of the broker (docs/api.md), in one table: method, resource path, the function that
 * serves it and who may call it. The stack builds its API Gateway methods and resource policy from it
 * (cdk/constructs/api.ts), local mode serves exactly these routes (lib/local/local-broker.ts), and each
 * handler that serves several routes dispatches on them (lambdas/profiles.ts). test/cdk/routes.test.ts
 * checks that all three agree. To add a route, add an entry here.
 */
import type { FunctionKey } from './functions.js';

/**
 * Who may call a route:
 * - `iam-admin`: SigV4-signed (API Gateway `AWS_IAM`), for administrators; with `allowedPrincipals`, only
 *   the environment's admin list;
 * - `iam-token`: SigV4-signed, for consumers fetching tokens; with `allowedPrincipals`, only the token list;
 * - `public`: no signature (a browser, an authorization server).
 */
export type RouteAuth = 'iam-admin' | 'iam-token' | 'public';

export type HttpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE';

export interface RouteSpec {
  readonly method: HttpMethod;
  /** API Gateway resource path; `{id}` is a profile id. */
  readonly path: string;
  readonly function: FunctionKey;
  readonly auth: RouteAuth;
  /** Query string parameters API Gateway passes on, each `true` when required. */
  readonly query?: Readonly<Record<string, boolean>>;
  /** The request model API Gateway validates the JSON body against. */
  readonly body?: 'ProfileInput';
}

export const ROUTES = [
  { method: 'GET', path: '/profiles', function: 'profiles', auth: 'iam-admin' },
  { method: 'GET', path: '/profiles/{id}', function: 'profiles', auth: 'iam-admin' },
  { method: 'PUT', path: '/profiles/{id}', function: 'profiles', auth: 'iam-admin', body: 'ProfileInput' },
  { method: 'DELETE', path: '/profiles/{id}', function: 'profiles', auth: 'iam-admin' },
  { method: 'POST', path: '/profiles/{id}/refresh', function: 'profiles', auth: 'iam-admin' },
  { method: 'GET', path: '/profiles/{id}/authorize-url', function: 'authorizeUrl', auth: 'iam-admin' },
  { method: 'GET', path: '/profiles/{id}/token', function: 'token', auth: 'iam-token', query: { minValiditySeconds: false } },
  // Public: the authorization server redirects the administrator's browser here.
  { method: 'GET', path: '/callback', function: 'callback', auth: 'public' },
  // Public: servers fetch the broker's public keys here, as the client's `jwks_uri` (docs/keys.md).
  { method: 'GET', path: '/jwks', function: 'jwks', auth: 'public' },
  // The signing keys and their rotation (docs/keys.md "Rotation").
  { method: 'GET', path: '/keys', function: 'keys', auth: 'iam-admin' },
  { method: 'POST', path: '/keys/rotate', function: 'keys', auth: 'iam-admin' },
  { method: 'POST', path: '/keys/promote', function: 'keys', auth: 'iam-admin' },
  { method: 'POST', path: '/keys/withdraw', function: 'keys', auth: 'iam-admin' },
  { method: 'GET', path: '/profiles/{id}/signing-key', function: 'keys', auth: 'iam-admin' },
] as const satisfies readonly RouteSpec[];

export type Route = (typeof ROUTES)[number];

/** `GET /profiles/{id}`: how a route is named in handlers, tests and API Gateway's `${httpMethod} ${resource}`. */
export type RouteKey<R extends RouteSpec = Route> = R extends RouteSpec ? `${R['method']} ${R['path']}` : never;

/** The keys of the routes one function serves. */
export type RouteKeyOf<F extends FunctionKey> = RouteKey<Extract<Route, { function: F }>>;

export const routeKey = (route: Pick<RouteSpec, 'method' | 'path'>): string => `${route.method} ${route.path}`;

export function routesOf(fn: FunctionKey): Route[] {
  return ROUTES.filter((route) => route.function === fn);
}

/**
 * The resource-policy pattern of a route, `execute-api:/<stage>/<method>/<path>` with every path parameter
 * as `*` (IAM's `*` also matches `/`, so `/profiles/*` covers `/profiles/x/token` too: callers that must
 * tell the routes apart list the narrower ones explicitly).
 */
export function executeApiPattern(route: Pick<RouteSpec, 'method' | 'path'>, stage = '*'): string {
  return `execute-api:/${stage}/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`;
}
