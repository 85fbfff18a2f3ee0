import { Type, type Static } from 'typebox';

/** The public shape of a user. Response schemas drop every other column (hashes, secrets). */
export const UserSchema = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    email: Type.String(),
    name: Type.String(),
    role: Type.String(),
    phone: Type.Union([Type.String(), Type.Null()]),
    emailVerified: Type.Boolean(),
    mfaEnabled: Type.Boolean(),
    createdAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false, $id: 'User' },
);
export type User = Static<typeof UserSchema>;

export const Email = Type.String({ minLength: 3, maxLength: 254 });
export const Name = Type.String({ minLength: 1, maxLength: 100 });
export const Phone = Type.String({ minLength: 7, maxLength: 32 });
// Bounded generously above the policy's maximum so the policy, not the schema, explains the limit.
export const Password = Type.String({ minLength: 1, maxLength: 1024 });
export const Role = Type.String({ pattern: '^[a-z][a-z0-9_-]{0,31}$', maxLength: 32 });

export const UserIdParams = Type.Object(
  { id: Type.String({ format: 'uuid' }) },
  { additionalProperties: false },
);

export const UpdateSelfBody = Type.Object(
  { name: Type.Optional(Name), phone: Type.Optional(Type.Union([Phone, Type.Null()])) },
  { additionalProperties: false, minProperties: 1 },
);

export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(Name),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    role: Type.Optional(Role),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateUser = Static<typeof UpdateUserBody>;

export const CreateUserBody = Type.Object(
  { email: Email, password: Password, name: Name, role: Role },
  { additionalProperties: false },
);

export const ListUsersQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 20 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, pattern: '^[A-Za-z0-9_-]+$' })),
    role: Type.Optional(Role),
    email: Type.Optional(Email),
    disabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const UserList = Type.Object(
  { items: Type.Array(UserSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) },
  { additionalProperties: false },
);
