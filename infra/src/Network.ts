/**
 * The network the reader task and the two functions run in: the user's VPC and private
 * subnets (imported by attributes, no lookup), VPC endpoints instead of a NAT gateway, and
 * one security group per workload.
 *
 * Invariants:
 *  - No NAT gateway and no internet route is needed: every AWS API a workload in the VPC
 *    calls has an endpoint — S3 (gateway: reader state, ECR image layers, processor,
 *    loader), Kinesis (reader's PutRecords, ListShards), Secrets Manager (the task's
 *    injected password, the loader's GetSecretValue), CloudWatch Logs (the task's awslogs
 *    driver), ECR API + Docker registry (the task's image pull) and SQS (the issue's list;
 *    nothing in the VPC calls SQS today, see infra/README.md). The Lambda service itself
 *    reads Kinesis and SQS and writes the functions' logs from outside the VPC.
 *  - Security groups allow no traffic but what is listed: egress on the PostgreSQL port to
 *    the source (reader) and the warehouse (loader) only, 443 to the interface endpoints'
 *    group (reader, loader) and to the S3 prefix list (all three); the endpoints' group
 *    accepts 443 only from the reader and the loader.
 */
import * as ec2 from "aws-cdk-lib/aws-ec2"
import { Construct } from "constructs"
import type { InfraSettings } from "./Settings.ts"

/** Interface endpoints, by id: the AWS service each workload in the VPC calls. */
export const INTERFACE_ENDPOINTS = {
  Kinesis: ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
  SecretsManager: ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
  Logs: ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
  Sqs: ec2.InterfaceVpcEndpointAwsService.SQS,
  EcrApi: ec2.InterfaceVpcEndpointAwsService.ECR,
  EcrDocker: ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER
} as const

const HTTPS = ec2.Port.tcp(443)

export class Network extends Construct {
  readonly vpc: ec2.IVpc
  /** The private subnets every workload runs in. */
  readonly subnets: ec2.SubnetSelection
  readonly endpointSecurityGroup: ec2.SecurityGroup
  readonly readerSecurityGroup: ec2.SecurityGroup
  readonly processorSecurityGroup: ec2.SecurityGroup
  readonly loaderSecurityGroup: ec2.SecurityGroup

  constructor(scope: Construct, id: string, settings: InfraSettings) {
    super(scope, id)
    const { network, source, warehouse } = settings
    this.vpc = ec2.Vpc.fromVpcAttributes(this, "Vpc", {
      vpcId: network.vpcId,
      vpcCidrBlock: network.vpcCidr,
      availabilityZones: [...network.availabilityZones],
      privateSubnetIds: [...network.privateSubnetIds],
      privateSubnetRouteTableIds: [...network.privateSubnetRouteTableIds]
    })
    this.subnets = { subnets: this.vpc.privateSubnets }

    const group = (groupId: string, description: string) =>
      new ec2.SecurityGroup(this, groupId, { vpc: this.vpc, description, allowAllOutbound: false })
    this.endpointSecurityGroup = group("EndpointSecurityGroup", "totes-cdc VPC interface endpoints: 443 from the reader and the loader")
    this.readerSecurityGroup = group("ReaderSecurityGroup", "totes-cdc reader task: PostgreSQL to the source, 443 to the endpoints and S3")
    this.processorSecurityGroup = group("ProcessorSecurityGroup", "totes-cdc processor function: 443 to S3")
    this.loaderSecurityGroup = group("LoaderSecurityGroup", "totes-cdc loader function: PostgreSQL to the warehouse, 443 to the endpoints and S3")

    const s3 = ec2.Peer.prefixList(network.s3PrefixListId)
    this.readerSecurityGroup.addEgressRule(ec2.Peer.ipv4(source.cidr), ec2.Port.tcp(source.port), "PostgreSQL: the source (totesys)")
    this.readerSecurityGroup.addEgressRule(this.endpointSecurityGroup, HTTPS, "AWS APIs through the VPC interface endpoints")
    this.readerSecurityGroup.addEgressRule(s3, HTTPS, "S3 through the gateway endpoint")
    this.processorSecurityGroup.addEgressRule(s3, HTTPS, "S3 through the gateway endpoint")
    this.loaderSecurityGroup.addEgressRule(ec2.Peer.ipv4(warehouse.cidr), ec2.Port.tcp(warehouse.port), "PostgreSQL: the warehouse")
    this.loaderSecurityGroup.addEgressRule(this.endpointSecurityGroup, HTTPS, "AWS APIs through the VPC interface endpoints")
    this.loaderSecurityGroup.addEgressRule(s3, HTTPS, "S3 through the gateway endpoint")
    for (const [client, from] of [
      ["the reader", this.readerSecurityGroup],
      ["the loader", this.loaderSecurityGroup]
    ] as const) {
      this.endpointSecurityGroup.addIngressRule(from, HTTPS, `AWS API calls from ${client}`)
    }

    this.vpc.addGatewayEndpoint("S3Endpoint", { service: ec2.GatewayVpcEndpointAwsService.S3, subnets: [this.subnets] })
    for (const [endpointId, service] of Object.entries(INTERFACE_ENDPOINTS)) {
      this.vpc.addInterfaceEndpoint(`${endpointId}Endpoint`, {
        service,
        subnets: this.subnets,
        securityGroups: [this.endpointSecurityGroup],
        open: false,
        privateDnsEnabled: true
      })
    }
  }
}
