// Entry of the bundled builds: 'segflow' is the installed npm package, resolved by
// the bundler from node_modules like in any app.
import load, * as segflow from 'segflow';

import { run } from './app.js';

run(load, segflow);
