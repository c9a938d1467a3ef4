/**
 * Datadog's documented size limits for the intake (docs/product.md §3): the body as it arrives on
 * the wire (compressed or not) and, when compressed, the body after decompression.
 * Both are enforced while the bytes stream in, so an oversized or "bomb" payload is refused
 * as soon as it crosses the line, never buffered whole.
 */
export interface IntakeLimits {
  /** Largest body on the wire, in bytes (compressed or plain). */
  readonly wireBytes: number;
  /** Largest body after decompression, in bytes. */
  readonly decodedBytes: number;
}

/** `POST /api/v1/series`, `/api/v1/check_run`, `/intake/`: 3.2 MB on the wire, 62 MiB decoded. */
export const V1_LIMITS: IntakeLimits = { wireBytes: 3_200_000, decodedBytes: 62_914_560 };

/** `POST /api/v2/series`: 500 KB on the wire, 5 MiB decoded. */
export const V2_LIMITS: IntakeLimits = { wireBytes: 512_000, decodedBytes: 5_242_880 };
