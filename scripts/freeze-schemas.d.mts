/** The schema modules, relative to src/ (and dist/). */
export declare const SCHEMA_MODULES: readonly string[];
/** The source of a module exporting `exports` as JSON literals; throws on anything but JSON. */
export declare function frozenSource(name: string, exports: Record<string, unknown>): string;
