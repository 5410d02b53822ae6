/** One CLI command: its name, a one-line summary for `tessera --help`, its help text, and its body (→ exit code). */
export interface Command {
  name: string;
  aliases?: string[];
  summary: string;
  help: string;
  run(args: string[]): Promise<number>;
}

/** True when `args` asks for help (`-h`/`--help` anywhere). */
export const wantsHelp = (args: string[]) => args.includes('-h') || args.includes('--help');
