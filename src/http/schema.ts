import { Type } from 'typebox';

// The HTTP pipeline's own route schemas. Schema modules hold schemas only: the build freezes them
// to plain JSON (scripts/freeze-schemas.mjs), so the server does not load TypeBox at run time.

/** Routes that declare no query parameters accept none: unknown parameters are rejected. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const HealthLiveBody = Type.Object(
  { status: Type.Literal('ok') },
  { additionalProperties: false },
);

const HealthCheck = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('fail')]),
    durationMs: Type.Integer(),
  },
  { additionalProperties: false },
);

export const HealthReadyBody = Type.Object(
  {
    status: Type.Union([Type.Literal('ok'), Type.Literal('degraded'), Type.Literal('unavailable')]),
    checks: Type.Record(Type.String(), HealthCheck),
  },
  { additionalProperties: false },
);

export const ApiIndexBody = Type.Object(
  {
    version: Type.String(),
    status: Type.Union([Type.Literal('stable'), Type.Literal('deprecated')]),
    deprecatedAt: Type.Union([Type.String(), Type.Null()]),
    sunsetAt: Type.Union([Type.String(), Type.Null()]),
    links: Type.Object(
      {
        openapi: Type.Union([Type.String(), Type.Null()]),
        docs: Type.Union([Type.String(), Type.Null()]),
      },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
