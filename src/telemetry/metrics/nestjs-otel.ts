/**
 * nestjs-otel, loaded once the ES module graph around it has run. It is published as CommonJS
 * and require()s the ESM-only @nestjs/common; imported statically it would run while that graph
 * is still being evaluated, which Jest's ESM runtime refuses as a require(esm) cycle.
 */
const nestjsOtel = await import('nestjs-otel');

export const { MetricService, OpenTelemetryModule } = nestjsOtel;
export type MetricService = InstanceType<typeof nestjsOtel.MetricService>;
