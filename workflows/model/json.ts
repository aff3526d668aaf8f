/**
 * Any JSON value: stack.hcl variables, attribute bodies as @cdktf/hcl2json returns them (expressions
 * as "${…}" strings). Types only: sandbox-safe.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
