// The `sluice` executable (bin/sluice.js): process-wide handlers, then one command line.
import { installProcessHandlers, main } from './main.ts';

installProcessHandlers(process.argv.slice(2));
process.exitCode = await main();
