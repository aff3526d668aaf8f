/**
 * The plain-JSON shapes the HCL activities return. Everything here is JSON-serializable: these
 * objects are Temporal activity results.
 */

import type { Json, JsonObject } from '../../workflows/model/json';

/** A reference from an expression to a module call, resource, data source, variable or local. */
export interface Ref {
  /** `module.net`, `aws_vpc.main`, `data.aws_ami.ubuntu`, `var.region`, `local.tags`. */
  address: string;
  kind: 'module' | 'resource' | 'data' | 'ephemeral' | 'var' | 'local';
  /** First attribute after the address when static: for `module.net[0].vpc_id` it is `vpc_id`. */
  attr?: string;
}

export interface VariableDecl {
  name: string;
  file: string;
  /** The type constraint as written (`list(string)`), without `${}`. */
  type?: string;
  hasDefault: boolean;
  default?: Json;
  sensitive: boolean;
  /** `ephemeral = true` (Terraform 1.10+, OpenTofu 1.11+), only when set. */
  ephemeral?: boolean;
  nullable?: boolean;
  description?: string;
}

export interface OutputDecl {
  /** Line of the declaration in its file, when found. */
  line?: number;
  name: string;
  file: string;
  sensitive: boolean;
  description?: string;
  value: Json;
  dependsOn: string[];
  refs: Ref[];
}

export interface LocalDecl {
  /** Line of the declaration in its file, when found. */
  line?: number;
  name: string;
  file: string;
  value: Json;
  refs: Ref[];
}

export interface ProviderDecl {
  /** Local provider name (`aws`). */
  name: string;
  alias?: string;
  file: string;
  /** The block body as written, including `alias`. */
  body: JsonObject;
  refs: Ref[];
}

export interface TerraformSettings {
  requiredVersion?: string;
  /** `required_providers` merged over all terraform blocks: local name → requirement. */
  requiredProviders: Record<string, Json>;
  backend?: { type: string; config: JsonObject; file: string };
}

export interface ModuleCall {
  /** Line of the declaration in its file, when found. */
  line?: number;
  name: string;
  file: string;
  source: string;
  version?: string;
  count?: Json;
  forEach?: Json;
  /** `providers = { aws = aws.west }` → `{ "aws": "aws.west" }`. */
  providers: Record<string, string>;
  /** Addresses as written (`aws_s3_bucket.logs`, `module.net`). */
  dependsOn: string[];
  /** Input arguments (everything but source/version/count/for_each/providers/depends_on). */
  args: JsonObject;
  /** Every reference in count, for_each, args and depends_on. */
  refs: Ref[];
  /** The whole block body as written. */
  body: JsonObject;
  /** For a local source that could be read: the outputs it declares, and which are sensitive. */
  sourceOutputs?: string[];
  sourceSensitiveOutputs?: string[];
}

export interface ResourceDecl {
  /** Line of the declaration in its file, when found. */
  line?: number;
  /** `aws_vpc.main` or `data.aws_ami.ubuntu`. */
  address: string;
  mode: 'managed' | 'data';
  type: string;
  name: string;
  file: string;
  count?: Json;
  forEach?: Json;
  /** `provider = aws.west` → `aws.west`. */
  provider?: string;
  dependsOn: string[];
  refs: Ref[];
  body: JsonObject;
}

/** The parsed root module. Maps are keyed by name/address and sorted, so the JSON is stable. */
export interface ModuleStructure {
  files: string[];
  variables: Record<string, VariableDecl>;
  outputs: Record<string, OutputDecl>;
  locals: Record<string, LocalDecl>;
  providers: ProviderDecl[];
  terraform: TerraformSettings;
  modules: Record<string, ModuleCall>;
  resources: Record<string, ResourceDecl>;
  /**
   * `moved` and `import` blocks (present only when the module has some). They add no node: an
   * import block's references count as references of the node it imports into, and synthesis
   * copies each block into the unit holding its `to` node.
   */
  refactors?: RefactorBlock[];
  /**
   * `ephemeral` blocks by address (`ephemeral.random_password.db`), present only when the module has
   * some. Not nodes: their values cannot leave a run, so like locals they are resolved through into
   * their readers and copied into every unit that reads them.
   */
  ephemerals?: Record<string, EphemeralDecl>;
}

export interface EphemeralDecl {
  line?: number;
  address: string;
  type: string;
  name: string;
  file: string;
  refs: Ref[];
  body: JsonObject;
}

export interface RefactorBlock {
  kind: 'moved' | 'import';
  file: string;
  /** The block as written (`to`/`from` as `${…}` from .tf, bare from .tf.json). */
  body: JsonObject;
  /** The node its `to` names: `module.a` for `module.a.aws_x.y`, `aws_x.y` for `aws_x.y["k"]`. */
  target: string;
}

/** A user-facing error in HCL input: malformed file, bad stack.hcl, cycle, dangling reference, bad source. */
export class HclError extends Error {
  readonly type = 'HclError';
  constructor(
    readonly kind: 'parse' | 'config' | 'cycle' | 'dangling' | 'source' | 'duplicate',
    message: string,
    readonly file?: string,
    readonly line?: number,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'HclError';
  }

  toJSON(): { kind: string; message: string; file?: string; line?: number; field?: string } {
    return { kind: this.kind, message: this.message, file: this.file, line: this.line, field: this.field };
  }
}
