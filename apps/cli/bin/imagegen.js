#!/usr/bin/env node
// The imagegen command. Runs the compiled CLI (npm install builds it via the root `prepare` script).
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
