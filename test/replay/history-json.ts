/**
 * History <-> proto JSON (the format of `temporal workflow show --output json` and of the SDK's
 * `historyToJSON`/`historyFromJSON`).
 *
 * Why not the SDK's functions: in this dependency tree @temporalio/common, @temporalio/proto and
 * @temporalio/worker each carry their own copy of protobufjs 8 (the hoisted one is 7), and
 * @temporalio/common 1.24's `historyToJSON`/`historyFromJSON` pass @temporalio/proto's message types
 * to the protojson of *its* copy, which refuses them ("TypeError: type must be a Type"). The same
 * conversion with the protojson of the protobufjs copy that @temporalio/proto uses works; it is what
 * the SDK does (without its fix-ups of PascalCase enum names written by old tools, which we never read).
 * A History parsed here has Long event ids, so `Worker.runReplayHistories` takes it as is and never
 * calls the SDK's `historyFromJSON`.
 */
import { dirname } from 'node:path';
import * as proto from '@temporalio/proto';
import { patchProtobufRoot } from '@temporalio/proto/lib/patch-protobuf-root';

export type History = proto.temporal.api.history.v1.IHistory;

interface ProtoJson {
  toJson(type: unknown, message: unknown): unknown;
  fromJson(type: unknown, json: unknown, options?: { ignoreUnknownFields?: boolean }): History | null;
}

const protoDir = dirname(require.resolve('@temporalio/proto/package.json'));
const protojson = require(require.resolve('protobufjs/ext/protojson', { paths: [protoDir] })) as ProtoJson;
const historyType = (patchProtobufRoot(proto) as unknown as { lookupType(name: string): unknown }).lookupType('temporal.api.history.v1.History');

/** Proto JSON with one event per line: a third of the size of indented JSON, and `grep`-able by event. */
export function historyToJSON(history: History): string {
  const json = protojson.toJson(historyType, proto.temporal.api.history.v1.History.fromObject(history)) as { events?: unknown[] };
  return `{"events": [\n${(json.events ?? []).map((e) => JSON.stringify(e)).join(',\n')}\n]}`;
}

export function historyFromJSON(json: unknown): History {
  if (typeof json !== 'object' || json === null || !Array.isArray((json as { events?: unknown }).events)) {
    throw new TypeError('not a history: expected an object with an array of events');
  }
  const h = protojson.fromJson(historyType, json, { ignoreUnknownFields: true });
  if (!h) throw new TypeError('not a history');
  return h;
}
