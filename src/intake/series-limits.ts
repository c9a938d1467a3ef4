/**
 * Per-series limits of the series intake (`POST /api/v1/series`, `/api/v2/series`), in one
 * dependency-free module so rekey-agent enforces exactly what the intake checks without
 * loading the intake's decoders (protobufjs would cost the agent memory).
 */

/** Longest metric name, in UTF-16 code units (JavaScript string length). */
export const MAX_METRIC_NAME = 200;
/** Longest tag (`key:value`), in UTF-16 code units. */
export const MAX_TAG_LENGTH = 200;
/** Most tags on one series. */
export const MAX_TAGS = 1000;
/** Longest host name. */
export const MAX_HOST_NAME = 255;
