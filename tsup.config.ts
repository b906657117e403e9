import { defineConfig } from 'tsup'

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    express: 'src/express.ts',
    koa: 'src/koa.ts',
    fastify: 'src/fastify.ts',
    hono: 'src/hono.ts',
    nest: 'src/nest.ts',
    mcp: 'src/mcp.ts',
    redis: 'src/redis.ts',
    'testing/index': 'src/testing/index.ts',
    cli: 'src/cli.ts',
  },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  dts: true,
  sourcemap: true,
  clean: true,
  splitting: true,
  treeshake: true,
})
