import SerializerSelector, {
  type Serializer,
  type SerializerFactory,
} from '@fastify/fast-json-stringify-compiler';
import { schemaKey } from './validation.js';

const fastifyDefault = SerializerSelector();

/**
 * Fastify's `schemaController.compilersFactory.buildSerializer`: Fastify's own serializer
 * compiler (fast-json-stringify), building each distinct response schema once per context. The
 * same schemas answer many routes (a user, an empty 204, the health checks): 46 serializers of 18
 * distinct schemas were built at every start, ~95 ms. A serializer keeps no state between calls.
 * @see https://fastify.dev/docs/latest/Reference/Server/#schemacontroller
 */
export const buildSerializer: SerializerFactory = (externalSchemas, options) => {
  const compile = fastifyDefault(externalSchemas, options);
  const built = new Map<string, Serializer>();
  return (route) => {
    const key = schemaKey(route.schema);
    let serialize = key === undefined ? undefined : built.get(key);
    if (serialize === undefined) {
      serialize = compile(route);
      if (key !== undefined) built.set(key, serialize);
    }
    return serialize;
  };
};
