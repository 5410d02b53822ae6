#!/usr/bin/env node
/**
 * The `tessera` command line: one file per command in src/cli/. `tessera --help` lists them,
 * `tessera <command> --help` explains one.
 *
 * Exit codes: 0 success, 1 runtime error (server unreachable, unknown model, bad file, ...), 2 usage error.
 */
import { TesseraError } from '../errors.ts';
import { CliError, UsageError } from './args.ts';
import { bench } from './bench.ts';
import { cache } from './cache.ts';
import { type Command, wantsHelp } from './command.ts';
import { cp } from './cp.ts';
import { create } from './create.ts';
import { hw } from './hw.ts';
import { info } from './info.ts';
import { list } from './list.ts';
import { ps } from './ps.ts';
import { pull } from './pull.ts';
import { quantize } from './quantize.ts';
import { rm } from './rm.ts';
import { run } from './run.ts';
import { serve } from './serve.ts';
import { show } from './show.ts';

const COMMANDS: Command[] = [serve, run, pull, list, ps, show, cp, rm, create, quantize, bench, info, cache, hw];

const usage = () => `usage: tessera <command> [arguments]

Commands:
${COMMANDS.map((c) => `  ${[c.name, ...(c.aliases ?? [])].join(', ').padEnd(10)}  ${c.summary}`).join('\n')}

'tessera <command> --help' explains a command. The server's address is TESSERA_HOST (default 127.0.0.1:11434).`;

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    console.log(topic ? topic.help : usage());
    return name ? 0 : 2;
  }
  if (name === '-v' || name === '--version') {
    const { VERSION } = await import('../version.ts');
    console.log(`tessera version ${VERSION}`);
    return 0;
  }
  const cmd = COMMANDS.find((c) => c.name === name || c.aliases?.includes(name));
  if (!cmd) throw new UsageError(`unknown command '${name}'`);
  if (wantsHelp(rest) && cmd.name !== 'bench') {
    console.log(cmd.help);
    return 0;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if ((e as { code?: string })?.code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError(`${cmd.name}: ${(e as Error).message}`, cmd.help);
    if (e instanceof UsageError && !e.help) throw new UsageError(e.message, cmd.help);
    throw e;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError) {
      console.error(`tessera: ${e.message}\n\n${e.help ?? usage()}`);
      process.exit(2);
    }
    if (e instanceof CliError || e instanceof TesseraError) {
      console.error(`tessera: ${e.message}`);
      process.exit(1);
    }
    console.error(e);
    process.exit(1);
  },
);
