/**
 * The names of the broker stack's outputs: the stack (cdk/broker-stack.ts) writes them, `oauth-broker doctor`
 * and the docs read them. No AWS CDK import here: the CLI reads this module.
 */
export const STACK_OUTPUTS = {
  apiUrl: 'ApiUrl',
  callbackUrl: 'CallbackUrl',
  tableName: 'TableName',
  consumerPolicyArn: 'ConsumerPolicyArn',
  tokenRouteArnPattern: 'TokenRouteArnPattern',
  restApiId: 'RestApiId',
  secretsKeyArn: 'SecretsKeyArn',
  secretNamePrefix: 'SecretNamePrefix',
  alarmTopicArn: 'AlarmTopicArn',
  refreshScheduleRuleName: 'RefreshScheduleRuleName',
  functionRoleArns: 'FunctionRoleArns',
  signingKeys: 'SigningKeyArns',
} as const;

export type StackOutput = keyof typeof STACK_OUTPUTS;
