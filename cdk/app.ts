/**
 * The CDK app (cdk.json: `npx tsx cdk/app.ts`). Deploy one environment of cdk/environments.ts with
 * `npx cdk deploy -c env=<name>`.
 */
import { App } from 'aws-cdk-lib';
import { addBrokerStack, enableNag } from './broker-app.js';

const app = new App();
try {
  addBrokerStack(app, app.node.tryGetContext('env'), {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.CDK_DEFAULT_REGION,
  });
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error));
  process.exit(1);
}
enableNag(app);
