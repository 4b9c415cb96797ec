/**
 * IAM helpers: each role gets exactly the statements its code needs, on its own resources.
 *
 * Invariants:
 *  - `Resource: "*"` appears only where AWS offers no narrower resource
 *    (`RESOURCE_WILDCARD_ACTIONS`): the network interfaces a function in a VPC needs, and
 *    ECR's authorisation token. The tests check every statement of the template against it.
 *  - A function's role writes only its own log group (no `logs:CreateLogGroup`, no
 *    `AWSLambdaBasicExecutionRole` with its `Resource: "*"`).
 */
import * as iam from "aws-cdk-lib/aws-iam"
import type * as logs from "aws-cdk-lib/aws-logs"
import type { Construct } from "constructs"

/** What a Lambda function in a VPC needs to attach its network interfaces (AWS's AWSLambdaVPCAccessExecutionRole, without its logs actions); EC2 takes no resource for the Describe calls. */
export const LAMBDA_VPC_ACTIONS = [
  "ec2:CreateNetworkInterface",
  "ec2:DescribeNetworkInterfaces",
  "ec2:DescribeSubnets",
  "ec2:DeleteNetworkInterface",
  "ec2:AssignPrivateIpAddresses",
  "ec2:UnassignPrivateIpAddresses"
] as const

/** The only actions allowed on `Resource: "*"` (AWS has no resource-level permission for them). */
export const RESOURCE_WILDCARD_ACTIONS: ReadonlySet<string> = new Set([...LAMBDA_VPC_ACTIONS, "ecr:GetAuthorizationToken"])

/** Adds one statement allowing `actions` on `resources` to `grantee`'s policy. */
export const allow = (grantee: iam.IGrantable, actions: ReadonlyArray<string>, resources: ReadonlyArray<string>, sid?: string): void => {
  grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ ...(sid === undefined ? {} : { sid }), actions: [...actions], resources: [...resources] }))
}

/** A Lambda function's role: its own log group and its VPC network interfaces, nothing else yet. */
export const lambdaRole = (scope: Construct, id: string, description: string, logGroup: logs.ILogGroup): iam.Role => {
  const role = new iam.Role(scope, id, { assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"), description })
  logGroup.grantWrite(role)
  allow(role, LAMBDA_VPC_ACTIONS, ["*"], "VpcNetworkInterfaces")
  return role
}
