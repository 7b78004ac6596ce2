import { configTargets, renderConfig } from '../probe/index.js';
import { readArgs } from './args.js';
import { type CliCommand, type CliContext, UsageError } from './command.js';
import { parseDuration } from './duration.js';

const usage = `Usage: outlast config --for ${configTargets.join('|')}
                      [--idle D] [--max-stream D] [--heartbeat D]

Prints a ready-to-paste snippet that lets long-lived streams through one intermediary or
backend (for infrastructure as code), and nothing else.

Options:
  --for NAME        ${configTargets.join(', ')}
  --idle D          idle timeout to set (default 5m): above the heartbeat
  --max-stream D    longest stream to allow through total-duration clocks (default 1h)
  --heartbeat D     the heartbeat the server sends, shown in comments (default 15s)
`;

async function run(context: CliContext): Promise<number> {
  const { argv, stdout } = context;
  let target: string | null = null;
  const options: { idleMs?: number; maxStreamMs?: number; heartbeatMs?: number } = {};
  for (const { name, value } of readArgs(argv, {
    values: ['for', 'idle', 'max-stream', 'heartbeat'],
  })) {
    if (name === 'for') target = value;
    else if (name === 'idle') options.idleMs = parseDuration(value, '--idle');
    else if (name === 'max-stream') options.maxStreamMs = parseDuration(value, '--max-stream');
    else if (name === 'heartbeat') options.heartbeatMs = parseDuration(value, '--heartbeat');
  }
  if (target === null) throw new UsageError(`--for is required: ${configTargets.join(', ')}`);
  stdout.write(renderConfig(target, options));
  return 0;
}

/** `outlast config`: one config snippet, alone. */
export const configCommand: CliCommand = {
  name: 'config',
  summary: 'print a ready-to-paste config snippet (nginx, HAProxy, ALB, Service Connect, ...)',
  usage,
  run,
};
