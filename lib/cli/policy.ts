/**
 * `oauth-broker policy`: the identity-based IAM policy that lets one role fetch one profile's token, and
 * nothing else (`execute-api:Invoke` on `…/<stage>/GET/profiles/<id>/token`).
 */
import { UsageError } from './args.js';

export interface RoleArn {
  partition: string;
  account: string;
  /** The role's name (without its path). */
  name: string;
}

export interface ApiArnPrefix {
  partition: string;
  region: string;
  account: string;
  apiId: string;
  stage: string;
}

const ROLE_ARN = /^arn:(aws[a-z-]*):iam::(\d{12}):role\/(?:[\w+=,.@-]+\/)*([\w+=,.@-]{1,64})$/;
const API_ARN = /^arn:(aws[a-z-]*):execute-api:([a-z0-9-]+):(\d{12}):([a-z0-9]+)\/([\w-]+)(?:\/\*?)?$/;
const EXECUTE_API_HOST = /^([a-z0-9]+)\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

export function parseRoleArn(value: string): RoleArn {
  const match = ROLE_ARN.exec(value);
  if (!match) {
    throw new UsageError(`--role must be an IAM role ARN like arn:aws:iam::123456789012:role/erp-sync, not "${value}"`, 'policy');
  }
  return { partition: match[1] as string, account: match[2] as string, name: match[3] as string };
}

/** `--api-arn arn:aws:execute-api:<region>:<account>:<apiId>/<stage>` (a trailing `/` or `/*` is accepted). */
export function parseApiArn(value: string): ApiArnPrefix {
  const match = API_ARN.exec(value);
  if (!match) {
    throw new UsageError(
      `--api-arn must be an execute-api ARN prefix like arn:aws:execute-api:eu-central-1:123456789012:a1b2c3d4e5/prod, not "${value}"`,
      'policy',
    );
  }
  return {
    partition: match[1] as string,
    region: match[2] as string,
    account: match[3] as string,
    apiId: match[4] as string,
    stage: match[5] as string,
  };
}

/**
 * The API ARN prefix of an API Gateway stage URL (`https://<apiId>.execute-api.<region>.amazonaws.com/<stage>`).
 * The URL does not say the API's account: it is taken to be the role's.
 */
export function apiArnFromUrl(url: URL, role: RoleArn): ApiArnPrefix {
  const host = EXECUTE_API_HOST.exec(url.hostname.toLowerCase());
  const stage = url.pathname.split('/').filter(Boolean)[0];
  if (!host || !stage) {
    throw new UsageError(
      `cannot derive the API ARN from ${url.href}: pass --api-arn arn:aws:execute-api:<region>:<account>:<apiId>/<stage>, ` +
        'or --url https://<apiId>.execute-api.<region>.amazonaws.com/<stage>',
      'policy',
    );
  }
  return { partition: role.partition, region: host[2] as string, account: role.account, apiId: host[1] as string, stage };
}

/** The ARN of the token route of `profileId`, GET only. */
export function tokenRouteArn(api: ApiArnPrefix, profileId: string): string {
  return `arn:${api.partition}:execute-api:${api.region}:${api.account}:${api.apiId}/${api.stage}/GET/profiles/${profileId}/token`;
}

export interface IamPolicy {
  Version: '2012-10-17';
  Statement: { Sid: string; Effect: 'Allow'; Action: string; Resource: string }[];
}

export function tokenPolicy(api: ApiArnPrefix, profileId: string): IamPolicy {
  const sid = `FetchOAuthBrokerToken${profileId.replace(/[^a-zA-Z0-9]+(.)?/g, (_, c: string | undefined) => (c ?? '').toUpperCase()).replace(/^./, (c) => c.toUpperCase())}`;
  return {
    Version: '2012-10-17',
    Statement: [{ Sid: sid, Effect: 'Allow', Action: 'execute-api:Invoke', Resource: tokenRouteArn(api, profileId) }],
  };
}
