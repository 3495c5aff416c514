/**
 * One route table (lib/routes.ts), read by three: the stack's API methods, local mode's routes and the
 * profiles handler's dispatch all agree with it.
 */
import { describe, expect, it } from 'vitest';
import { functionId } from '../../cdk/constructs/functions.js';
import { PROFILE_ROUTES, createHandler as createProfilesHandler } from '../../lambdas/profiles.js';
import type { Broker } from '../../lib/broker.js';
import { localRoutes } from '../../lib/local/local-broker.js';
import { createLogger } from '../../lib/logger.js';
import { executeApiPattern, ROUTES, routeKey, routesOf } from '../../lib/routes.js';
import { apiGatewayEvent } from '../support/api-events.js';
import { resources, synthesized, type Cfn } from './support.js';

describe('the route table', () => {
  const dev = synthesized({ env: 'dev' });

  it('is what the stack deploys: one method per route, to its function, signed unless public', () => {
    // Prepare
    const apiResources = resources(dev.template, 'AWS::ApiGateway::Resource');
    const pathOf = (ref: Cfn): string => (ref.Ref ? `${pathOf(apiResources[ref.Ref]!.Properties!.ParentId)}/${apiResources[ref.Ref]!.Properties!.PathPart}` : '');
    const functionOf = (uri: Cfn): string => {
      const text = JSON.stringify(uri);
      const key = ROUTES.map((r) => r.function).find((fn) => text.includes(`"${functionId(fn)}`) && !text.includes(`"${functionId(fn)}Role`));
      return key ?? `unknown ${text}`;
    };

    // Act
    const deployed = Object.values(resources(dev.template, 'AWS::ApiGateway::Method')).map((m) => {
      const p = m.Properties!;
      const auth = p.AuthorizationType === 'NONE' ? 'public' : 'iam';
      return { key: `${p.HttpMethod} ${pathOf(p.ResourceId) || '/'}`, fn: functionOf(p.Integration.Uri), auth };
    });

    // Assess
    expect(deployed.map((d) => `${d.key} -> ${d.fn} (${d.auth})`).sort()).toEqual(
      ROUTES.map((r) => `${routeKey(r)} -> ${r.function} (${r.auth === 'public' ? 'public' : 'iam'})`).sort(),
    );
  });

  it('is what local mode serves, each route by its function\'s handler, beside the console\'s own pages', () => {
    const served = localRoutes(() => ({}) as Broker, createLogger());
    const isConsolePage = (r: { resource: string }) => r.resource === '/' || r.resource === '/console' || r.resource.startsWith('/console/');
    const routes = served.filter((r) => !isConsolePage(r));
    expect(routes.map((r) => `${r.method} ${r.resource}`).sort()).toEqual(ROUTES.map(routeKey).sort());
    expect(served.filter(isConsolePage).every((r) => r.method === 'GET')).toBe(true);
    // Routes of one function share its handler; different functions have different handlers.
    const handlerOf = new Map(routes.map((r) => [`${r.method} ${r.resource}`, r.handler]));
    for (const a of ROUTES) {
      for (const b of ROUTES) {
        expect(handlerOf.get(routeKey(a)) === handlerOf.get(routeKey(b)), `${routeKey(a)} / ${routeKey(b)}`).toBe(a.function === b.function);
      }
    }
  });

  it('is what the profiles handler dispatches: its routes exactly, and any other answers no_route', async () => {
    expect(Object.keys(PROFILE_ROUTES).sort()).toEqual(routesOf('profiles').map(routeKey).sort());
    const handler = createProfilesHandler(() => {
      throw new Error('no broker for a route that is not this function\'s');
    }, createLogger());
    for (const other of ROUTES.filter((r) => r.function !== 'profiles')) {
      const answer = await handler(apiGatewayEvent({ method: other.method, resource: other.path, pathParameters: { id: 'erp' } }));
      expect(answer.statusCode, routeKey(other)).toBe(400);
      expect(JSON.parse(answer.body), routeKey(other)).toMatchObject({ error: 'invalid_request' });
    }
  });

  it('gives resource-policy patterns with every path parameter as a wildcard', () => {
    expect(ROUTES.map((r) => executeApiPattern(r))).toEqual([
      'execute-api:/*/GET/profiles',
      'execute-api:/*/GET/profiles/*',
      'execute-api:/*/PUT/profiles/*',
      'execute-api:/*/DELETE/profiles/*',
      'execute-api:/*/POST/profiles/*/refresh',
      'execute-api:/*/GET/profiles/*/authorize-url',
      'execute-api:/*/GET/profiles/*/token',
      'execute-api:/*/GET/callback',
      'execute-api:/*/GET/jwks',
      'execute-api:/*/GET/keys',
      'execute-api:/*/POST/keys/rotate',
      'execute-api:/*/POST/keys/promote',
      'execute-api:/*/POST/keys/withdraw',
      'execute-api:/*/GET/profiles/*/signing-key',
    ]);
  });
});
