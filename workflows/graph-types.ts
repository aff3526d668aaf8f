/**
 * Unit-graph shapes shared by the HCL activities (which build them) and workflow code (which
 * schedules them, and feeds each unit the outputs its wiring names). Types only: safe to import from
 * the Temporal workflow sandbox.
 */

/** A call-level edge: `from` references `to` (Terraform address form). */
export interface Reference {
  from: string;
  to: string;
}

/** One unit: what runs as one plan/apply with its own state key. */
export interface Unit {
  /** Stable, filesystem- and S3-key-safe name ([A-Za-z0-9_.-]). */
  name: string;
  /**
   * `module`: one module call; `modules`: module calls (and any root resources) on a cycle,
   * merged; `resources`: root resources and data sources; `single`: the whole root.
   */
  kind: 'module' | 'modules' | 'resources' | 'single';
  /** Addresses of the module calls, resources and data sources it holds, sorted. */
  members: string[];
  /** Names of the units it needs applied first, sorted. */
  dependsOn: string[];
}

/** Root outputs: evaluated after the units they reference; nothing waits on them. */
export interface RootOutput {
  name: string;
  dependsOn: string[];
  sensitive: boolean;
}

export interface UnitGraph {
  execution: 'modules' | 'single';
  /** Units in a deterministic topological order (dependencies first, ties by name). */
  units: Unit[];
  /** Call-level edges, sorted. */
  references: Reference[];
  outputs: RootOutput[];
}

/** One value flowing from a producer unit's output into a consumer's input variable. */
export interface WiringInput {
  variable: string;
  fromUnit: string;
  output: string;
  /** The node whose whole object the value is (`module.net`, `aws_sg.app`). */
  address: string;
  sensitive: boolean;
}

export interface WiringExport {
  output: string;
  address: string;
  sensitive: boolean;
}

export interface UnitWiring {
  unit: string;
  /** Root variables the unit re-declares; feed them the stack state's values. */
  rootVariables: string[];
  inputs: WiringInput[];
  exports: WiringExport[];
}

/** The synthesis's wiring of a stack: per unit, and of the root-outputs root. */
export interface StackWiring {
  units: UnitWiring[];
  outputs: UnitWiring;
}
