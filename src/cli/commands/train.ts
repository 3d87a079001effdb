import type { Command } from "commander";
export function registerTrainCommands(_program: Command): void {}
