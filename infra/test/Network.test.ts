import { describe, expect, it } from "vitest"
import { synthesize, logicalId } from "./Fixtures.ts"

const { stack, template } = synthesize()
const SUBNETS = ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
const groupRef = (group: Parameters<typeof logicalId>[0]) => ({ "Fn::GetAtt": [logicalId(group), "GroupId"] })
const { endpointSecurityGroup, readerSecurityGroup, processorSecurityGroup, loaderSecurityGroup } = stack.network

/** A group's egress rules: inline (CIDR, prefix list) and separate (to another group), as comparable strings. */
const egressOf = (group: Parameters<typeof logicalId>[0]): ReadonlyArray<string> => {
  const inline = template.findResources("AWS::EC2::SecurityGroup")[logicalId(group)]!["Properties"].SecurityGroupEgress ?? []
  const separate = Object.values(template.findResources("AWS::EC2::SecurityGroupEgress"))
    .map((resource) => resource["Properties"])
    .filter((rule) => JSON.stringify(rule.GroupId) === JSON.stringify(groupRef(group)))
  return [...inline, ...separate]
    .map((rule: Record<string, unknown>) => {
      const to = rule["CidrIp"] ?? rule["DestinationPrefixListId"] ?? JSON.stringify(rule["DestinationSecurityGroupId"])
      return `${String(rule["IpProtocol"])} ${String(rule["FromPort"])}-${String(rule["ToPort"])} → ${String(to)}`
    })
    .sort()
}

describe("network", () => {
  it("uses the VPC's private subnets given in context: no NAT gateway, no VPC, subnet or internet gateway of its own", () => {
    for (const type of ["AWS::EC2::NatGateway", "AWS::EC2::VPC", "AWS::EC2::Subnet", "AWS::EC2::InternetGateway", "AWS::EC2::EIP"]) template.resourceCountIs(type, 0)
  })

  it("has an S3 gateway endpoint on the private subnets' route tables", () => {
    template.hasResourceProperties("AWS::EC2::VPCEndpoint", {
      VpcEndpointType: "Gateway",
      VpcId: "vpc-0a1b2c3d4e5f60718",
      ServiceName: { "Fn::Join": ["", ["com.amazonaws.", { Ref: "AWS::Region" }, ".s3"]] },
      RouteTableIds: ["rtb-0a1b2c3d4e5f60001", "rtb-0a1b2c3d4e5f60002"]
    })
  })

  it("has interface endpoints with private DNS for Kinesis, Secrets Manager, CloudWatch Logs, SQS and ECR, in the private subnets, behind their own group", () => {
    const endpoints = Object.values(template.findResources("AWS::EC2::VPCEndpoint"))
      .map((resource) => resource["Properties"])
      .filter((props) => props.VpcEndpointType === "Interface")
    const services = endpoints.map((props) => props.ServiceName).sort()
    expect(services).toEqual(["ecr.api", "ecr.dkr", "kinesis-streams", "logs", "secretsmanager", "sqs"].map((service) => `com.amazonaws.eu-west-2.${service}`))
    for (const props of endpoints) {
      expect(props).toMatchObject({ VpcId: "vpc-0a1b2c3d4e5f60718", PrivateDnsEnabled: true, SubnetIds: SUBNETS, SecurityGroupIds: [groupRef(endpointSecurityGroup)] })
    }
  })

  it("reader: PostgreSQL to the source only, 443 to the endpoints and S3", () => {
    expect(egressOf(readerSecurityGroup)).toEqual(
      [`tcp 5432-5432 → 10.0.0.0/16`, `tcp 443-443 → ${JSON.stringify(groupRef(endpointSecurityGroup))}`, `tcp 443-443 → pl-0a1b2c3d4e5f60718`].sort()
    )
  })

  it("loader: PostgreSQL to the warehouse only, 443 to the endpoints and S3", () => {
    expect(egressOf(loaderSecurityGroup)).toEqual(
      [`tcp 5432-5432 → 10.0.0.0/16`, `tcp 443-443 → ${JSON.stringify(groupRef(endpointSecurityGroup))}`, `tcp 443-443 → pl-0a1b2c3d4e5f60718`].sort()
    )
  })

  it("processor: 443 to S3 only", () => {
    expect(egressOf(processorSecurityGroup)).toEqual([`tcp 443-443 → pl-0a1b2c3d4e5f60718`])
  })

  it("the databases' own ports and CIDRs come from context", () => {
    const custom = synthesize({ sourcePort: 6432, sourceCidr: "10.1.0.0/24", warehousePort: 5433, warehouseCidr: "10.2.0.0/24" })
    const rules = Object.values(custom.template.findResources("AWS::EC2::SecurityGroup")).flatMap((group) => group["Properties"].SecurityGroupEgress ?? [])
    expect(rules).toContainEqual(expect.objectContaining({ CidrIp: "10.1.0.0/24", FromPort: 6432, ToPort: 6432, IpProtocol: "tcp" }))
    expect(rules).toContainEqual(expect.objectContaining({ CidrIp: "10.2.0.0/24", FromPort: 5433, ToPort: 5433, IpProtocol: "tcp" }))
  })

  it("endpoints accept 443 from the reader and the loader only, and send nothing", () => {
    const ingress = Object.values(template.findResources("AWS::EC2::SecurityGroupIngress")).map((resource) => resource["Properties"])
    expect(ingress.map((rule) => [rule.GroupId, rule.SourceSecurityGroupId, rule.IpProtocol, rule.FromPort, rule.ToPort])).toEqual(
      expect.arrayContaining([
        [groupRef(endpointSecurityGroup), groupRef(readerSecurityGroup), "tcp", 443, 443],
        [groupRef(endpointSecurityGroup), groupRef(loaderSecurityGroup), "tcp", 443, 443]
      ])
    )
    expect(ingress).toHaveLength(2)
    const groups = template.findResources("AWS::EC2::SecurityGroup")
    for (const group of Object.values(groups)) expect(group["Properties"].SecurityGroupIngress).toBeUndefined()
    expect(groups[logicalId(endpointSecurityGroup)]!["Properties"].SecurityGroupEgress).toEqual([
      { CidrIp: "255.255.255.255/32", Description: "Disallow all traffic", FromPort: 252, IpProtocol: "icmp", ToPort: 86 }
    ])
  })

  it("no group sends anywhere (0.0.0.0/0) or on all ports", () => {
    const rules = [
      ...Object.values(template.findResources("AWS::EC2::SecurityGroup")).flatMap((group) => group["Properties"].SecurityGroupEgress ?? []),
      ...Object.values(template.findResources("AWS::EC2::SecurityGroupEgress")).map((rule) => rule["Properties"])
    ]
    for (const rule of rules) {
      expect(rule.CidrIp).not.toBe("0.0.0.0/0")
      expect(rule.IpProtocol).not.toBe("-1")
    }
  })

  it("outputs the reader's and the loader's group ids for the databases' security groups, exporting nothing (an import would block cdk destroy)", () => {
    template.hasOutput("ReaderSecurityGroupId", { Value: groupRef(readerSecurityGroup) })
    template.hasOutput("LoaderSecurityGroupId", { Value: groupRef(loaderSecurityGroup) })
    for (const output of Object.values(template.toJSON()["Outputs"] as Record<string, Record<string, unknown>>)) expect(output).not.toHaveProperty("Export")
  })
})
