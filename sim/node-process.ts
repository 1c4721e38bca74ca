import type { Env } from '../src/env/env.js';
import type { Net } from '../src/env/net.js';
import type { Stream } from '../src/env/stream.js';
import { FrontDoor } from '../src/frontdoor/front-door.js';
import type { BugName } from '../src/node/bugs.js';
import { KvNode, type NodeConfig, type NodeStatus } from '../src/node/node.js';
import { KV_LAB_VERSION } from '../src/util/version.js';
import type { StreamProtocol } from './stream.js';
import type { Machine, SimNode } from './world.js';

/**
 * One node process in the simulator, as `kv-lab serve` builds it for real: the KvNode on its Env
 * and, when clients come through the front door, the FrontDoor that takes their connections —
 * the same gateway and sessions as a real node, over simulated streams.
 */
export class NodeProcess implements SimNode {
  constructor(
    readonly kv: KvNode,
    readonly frontDoor: FrontDoor | null,
  ) {}

  stop(): void {
    this.frontDoor?.stop();
    this.kv.stop();
  }

  accept(stream: Stream, protocol: StreamProtocol): void {
    if (this.frontDoor === null) stream.destroy();
    else this.frontDoor.accept(stream, protocol);
  }

  status(): NodeStatus {
    return this.kv.status();
  }
}

export interface NodeProcessOptions {
  config: NodeConfig;
  /** Build a front door (the workload's protocol is line or http). */
  frontDoor: boolean;
  /** Opens the gateway's own endpoint on the node's machine. */
  openNet: (address: string, machine: Machine) => Net;
  bugs: ReadonlySet<BugName>;
}

export function startNodeProcess(env: Env, machine: Machine, o: NodeProcessOptions): NodeProcess {
  const kv = new KvNode(env, o.config);
  const frontDoor = o.frontDoor
    ? new FrontDoor({
        id: env.id,
        node: kv,
        members: o.config.members.includes(env.id) ? o.config.members : [...o.config.members, env.id],
        clock: env.clock,
        rng: env.rng.fork('frontdoor'),
        log: env.log,
        openNet: (address) => o.openNet(address, machine),
        // The lab's scenarios run without authentication; a test that gives the node an AuthConfig gets a front door that asks for it.
        authEnabled: (o.config.auth ?? null) !== null,
        version: KV_LAB_VERSION,
        bugs: o.bugs,
      })
    : null;
  return new NodeProcess(kv, frontDoor);
}

/** The KvNode running on a machine, if any. */
export function kvNodeOf(m: Machine): KvNode | null {
  const node = m.node;
  if (node instanceof NodeProcess) return node.kv;
  if (node instanceof KvNode) return node;
  return null;
}
