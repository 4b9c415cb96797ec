import { describe, expect, it } from "vitest"
import { RESOURCE_WILDCARD_ACTIONS } from "../src/Permissions.ts"
import { actionsOf, bucketArn, identityStatements, INGESTION_BUCKET, PROCESSED_BUCKET, resourcesOf, synthesize } from "./Fixtures.ts"

const { template } = synthesize()
const statements = identityStatements(template)

describe("IAM", () => {
  it("no statement allows every action or every action of a service", () => {
    for (const { statement } of statements) {
      for (const action of actionsOf(statement)) {
        expect(action).not.toBe("*")
        expect(action).not.toMatch(/:\*$/)
      }
    }
  })

  it("Resource \"*\" only for actions AWS gives no resource to (VPC network interfaces, ECR's token)", () => {
    const wildcard = statements.filter(({ statement }) => resourcesOf(statement).includes("*"))
    expect(wildcard.length).toBeGreaterThan(0)
    for (const { statement } of wildcard) {
      expect(statement.Effect).toBe("Allow")
      expect(resourcesOf(statement)).toEqual(["*"])
      for (const action of actionsOf(statement)) expect(RESOURCE_WILDCARD_ACTIONS.has(action)).toBe(true)
    }
  })

  it("no role has an AWS managed policy or a NotAction / NotResource statement", () => {
    for (const role of Object.values(template.findResources("AWS::IAM::Role"))) expect(role["Properties"].ManagedPolicyArns).toBeUndefined()
    for (const { statement } of statements) {
      expect(statement).not.toHaveProperty("NotAction")
      expect(statement).not.toHaveProperty("NotResource")
    }
  })

  it("no statement writes outside the stack's own stream, queues and log groups and the data stack's buckets", () => {
    const dataStackObjects = [INGESTION_BUCKET, PROCESSED_BUCKET].map((bucket) => `${bucketArn(bucket)}/`)
    const writes = statements.filter(({ statement }) => actionsOf(statement).some((action) => /^(s3:(Put|Delete)|kinesis:Put|sqs:Send|logs:Put)/.test(action)))
    expect(writes.length).toBeGreaterThan(0)
    for (const { statement } of writes) {
      for (const resource of resourcesOf(statement)) {
        if (typeof resource === "string") expect(dataStackObjects.some((prefix) => resource.startsWith(prefix)), resource).toBe(true)
        else expect(JSON.stringify(resource)).toMatch(/GetAtt/)
      }
    }
  })

  it("every role is assumed by the service that runs it", () => {
    const services = Object.values(template.findResources("AWS::IAM::Role"))
      .map((role) => role["Properties"].AssumeRolePolicyDocument.Statement.map((s: { Principal: { Service: string } }) => s.Principal.Service).join(","))
      .sort()
    expect(services).toEqual(["ecs-tasks.amazonaws.com", "ecs-tasks.amazonaws.com", "firehose.amazonaws.com", "lambda.amazonaws.com", "lambda.amazonaws.com"])
  })
})
