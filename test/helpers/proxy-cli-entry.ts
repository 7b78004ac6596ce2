// Runs the outlast CLI from source, for tests that spawn it: node --import tsx THIS proxy ...
import { main } from '../../src/cli/main.js';

process.exitCode = await main(process.argv.slice(2));
