/**
 * The Agent 7 protobuf `MetricPayload` (PRODUCT.md §3), decoded with protobufjs from a schema
 * written with the field numbers the Datadog Agent uses (agent-payload's
 * `proto/metrics/agent_payload.proto`), so an unmodified Agent 7 is understood.
 * The schema is parsed once, at import.
 */
import protobuf from 'protobufjs';

const PROTO = `
syntax = "proto3";
package datadog.agentpayload;

message MetricPayload {
  enum MetricType {
    UNSPECIFIED = 0;
    COUNT = 1;
    RATE = 2;
    GAUGE = 3;
  }
  message MetricPoint {
    double value = 1;
    int64 timestamp = 2;
  }
  message Resource {
    string type = 1;
    string name = 2;
  }
  message MetricSeries {
    repeated Resource resources = 1;
    string metric = 2;
    repeated string tags = 3;
    repeated MetricPoint points = 4;
    MetricType type = 5;
    string unit = 6;
    string source_type_name = 7;
    int64 interval = 8;
  }
  repeated MetricSeries series = 1;
}
`;

const root = protobuf.parse(PROTO, { keepCase: true }).root;

/** The protobufjs type, for encoding in tests and benchmarks. */
export const MetricPayloadType = root.lookupType('datadog.agentpayload.MetricPayload');

export interface ProtoMetricSeries {
  resources: Array<{ type: string; name: string }>;
  metric: string;
  tags: string[];
  points: Array<{ value: number; timestamp: number }>;
  type: number;
  unit: string;
  source_type_name: string;
  interval: number;
}

/** Decodes a MetricPayload; throws protobufjs's error on malformed bytes. */
export function decodeMetricPayload(bytes: Uint8Array): { series: ProtoMetricSeries[] } {
  const message = MetricPayloadType.decode(bytes);
  return MetricPayloadType.toObject(message, {
    longs: Number,
    enums: Number,
    defaults: true,
    arrays: true,
  }) as { series: ProtoMetricSeries[] };
}
