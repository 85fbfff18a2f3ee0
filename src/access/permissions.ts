import type { Config } from '../config/index.js';

/**
 * Role-based access control: roles map to permissions in config. Every user may read and edit
 * itself; everything else needs a permission (users:read, users:write, audit:read, keys:rotate...).
 */
export class Permissions {
  private readonly byRole: Map<string, ReadonlySet<string>>;

  constructor(roles: Config['access']['roles']) {
    this.byRole = new Map(Object.entries(roles).map(([role, list]) => [role, new Set(list)]));
  }

  /** The permissions of `role`; empty for a role config no longer defines. */
  of(role: string): ReadonlySet<string> {
    return this.byRole.get(role) ?? new Set();
  }

  isRole(role: string): boolean {
    return this.byRole.has(role);
  }

  roles(): string[] {
    return [...this.byRole.keys()];
  }

  /**
   * Whether `held` includes every permission of `role`. Granting a role, or changing, disabling
   * or deleting one of its holders, takes that much: otherwise any `users:write` holder under a
   * narrower custom role could make itself an administrator (Kubernetes' escalation rule).
   */
  covers(held: ReadonlySet<string>, role: string): boolean {
    for (const permission of this.of(role)) if (!held.has(permission)) return false;
    return true;
  }

  /** Roles that hold `permission`: used to keep at least one administrator. */
  rolesWith(permission: string): string[] {
    return [...this.byRole].filter(([, set]) => set.has(permission)).map(([role]) => role);
  }
}
