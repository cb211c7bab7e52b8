// PostGraphile v5 peer for bench/compare.sh: the amber preset, the connection-filter plugin, the
// four endpoint relations of `dialogues` from smart tags (postgraphile.tags.json5, no DDL), filters
// and orderings on every column (PgIndexBehaviorsPlugin disabled) and a pool of 16 connections.
// Run (Node >= 22): PG_URL=postgres://... PORT=5678 node node_modules/postgraphile/dist/cli-run.js -C graphile.config.mjs
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import { pgSmartTagsFromFile } from "postgraphile/utils";

const here = import.meta.dirname;
if (!process.env.PG_URL) throw new Error("PG_URL is required");

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset],
  plugins: [pgSmartTagsFromFile(`${here}/postgraphile.tags.json5`, "BenchTagsFilePlugin")],
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString: process.env.PG_URL,
      schemas: ["public"],
      poolConfig: { max: 16 },
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.PORT || 5678),
    graphqlPath: "/graphql",
    graphiql: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};
export default preset;
