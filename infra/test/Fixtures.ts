/**
 * The stacks as the tests synthesize them: the app of bin/app.ts with the example context of
 * infra/cdk.json (so the tests check the template `cdk synth` writes), plus overrides;
 * without Lambda bundling unless asked (`aws:cdk:bundling-stacks: []`).
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { App, type CfnElement, Stack } from "aws-cdk-lib"
import { Template } from "aws-cdk-lib/assertions"
import type { Construct } from "constructs"
import { REPOSITORY_ROOT } from "../src/Bundling.ts"
import type { TotesCdcDataStack } from "../src/DataStack.ts"
import { readSettings } from "../src/Settings.ts"
import { addStacks, type TotesCdcStack } from "../src/TotesCdcStack.ts"

/** infra/cdk.json's example context. */
export const EXAMPLE_CONTEXT: Readonly<Record<string, unknown>> = JSON.parse(readFileSync(join(REPOSITORY_ROOT, "infra/cdk.json"), "utf8")).context

export interface Synthesized {
  readonly app: App
  /** The pipeline stack and its template. */
  readonly stack: TotesCdcStack
  readonly template: Template
  /** The data stack (buckets, the loader's queues) and its template. */
  readonly dataStack: TotesCdcDataStack
  readonly dataTemplate: Template
}

/**
 * The stack with the example context and `overrides`; `bundling` builds the Lambda bundles;
 * `validate` runs CDK's CloudFormation validation (cfn-lint's rules, compiled to
 * WebAssembly: 3–5 s per process, so only the tests that check it ask for it).
 */
export const synthesize = (
  overrides: Readonly<Record<string, unknown>> = {},
  options: { readonly bundling?: boolean; readonly outdir?: string; readonly validate?: boolean } = {}
): Synthesized => {
  const context = { ...EXAMPLE_CONTEXT, ...overrides, ...(options.bundling === true ? {} : { "aws:cdk:bundling-stacks": [] }) }
  const app = new App({ context, ...(options.outdir === undefined ? {} : { outdir: options.outdir }) })
  const { dataStack, pipeline: stack } = addStacks(app, readSettings((key) => app.node.tryGetContext(key)))
  const validation = process.env["CDK_VALIDATION"]
  process.env["CDK_VALIDATION"] = options.validate === true ? "true" : "false"
  try {
    return { app, stack, template: Template.fromStack(stack), dataStack, dataTemplate: Template.fromStack(dataStack) }
  } finally {
    if (validation === undefined) delete process.env["CDK_VALIDATION"]
    else process.env["CDK_VALIDATION"] = validation
  }
}

/** The example context's bucket names (DataStack.ts `dataNames` defaults) and their ARNs as the pipeline stack writes them. */
export const INGESTION_BUCKET = "totes-cdc-ingestion-123456789012-eu-west-2"
export const PROCESSED_BUCKET = "totes-cdc-processed-123456789012-eu-west-2"
export const bucketArn = (name: string): string => `arn:aws:s3:::${name}`

/** The logical id of `construct`'s CloudFormation resource. */
export const logicalId = (construct: Construct): string => Stack.of(construct).getLogicalId(construct.node.defaultChild as CfnElement)

/** `{ Ref: id }` of `construct`'s resource. */
export const ref = (construct: Construct) => ({ Ref: logicalId(construct) })

export interface Statement {
  readonly Effect: string
  readonly Action: string | ReadonlyArray<string>
  readonly Resource?: unknown
  readonly Principal?: unknown
  readonly Condition?: unknown
  readonly Sid?: string
}

const asArray = <A>(value: A | ReadonlyArray<A> | undefined): ReadonlyArray<A> => (value === undefined ? [] : Array.isArray(value) ? value : [value as A])

/** Every identity-based statement of the template: the AWS::IAM::Policy documents and roles' inline policies, with the roles they apply to. */
export const identityStatements = (template: Template): ReadonlyArray<{ readonly roles: ReadonlyArray<string>; readonly statement: Statement }> => {
  const out: Array<{ roles: ReadonlyArray<string>; statement: Statement }> = []
  for (const policy of Object.values(template.findResources("AWS::IAM::Policy"))) {
    const roles = asArray<{ Ref: string }>(policy["Properties"].Roles).map((role) => role.Ref)
    for (const statement of policy["Properties"].PolicyDocument.Statement) out.push({ roles, statement })
  }
  for (const [id, role] of Object.entries(template.findResources("AWS::IAM::Role"))) {
    for (const policy of asArray<{ PolicyDocument: { Statement: ReadonlyArray<Statement> } }>(role["Properties"].Policies)) {
      for (const statement of policy.PolicyDocument.Statement) out.push({ roles: [id], statement })
    }
  }
  return out
}

/** The statements applying to the role with logical id `roleId`. */
export const statementsOfRole = (template: Template, roleId: string): ReadonlyArray<Statement> =>
  identityStatements(template)
    .filter((entry) => entry.roles.includes(roleId))
    .map((entry) => entry.statement)

/** Pure: a statement's actions and resources as arrays. */
export const actionsOf = (statement: Statement): ReadonlyArray<string> => asArray(statement.Action)
export const resourcesOf = (statement: Statement): ReadonlyArray<unknown> => asArray(statement.Resource)

/** Pure: `(action, resource)` pairs of `statements`, resources as JSON, sorted: the role's permissions, comparable as a set. */
export const permissionPairs = (statements: ReadonlyArray<Statement>): ReadonlyArray<string> =>
  statements
    .filter((statement) => statement.Effect === "Allow")
    .flatMap((statement) => actionsOf(statement).flatMap((action) => resourcesOf(statement).map((resource) => `${action} ${JSON.stringify(resource)}`)))
    .sort()
