export { ShardKeyspace, ShardMap, placementProblem, SHARDS_MAX, SHARD_REPLICAS_DEFAULT, SHARD_RING_VNODES, SHARD_LOAD_EPSILON, type ShardMapOptions } from './shard-map.js';
