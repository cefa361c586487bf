#!/usr/bin/env bash
# Builds into .build/<name> and runs jest on that copy, so several people can
# build and test side by side without overwriting each other's dist/.
# Usage: bash .ci/devtest.sh <name> [jest args, e.g. a test path pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
name="${1:?usage: devtest.sh <name> [jest args]}"; shift
out=".build/$name"
mkdir -p "$out"
npx tsc -p tsconfig.json --outDir "$out" --tsBuildInfoFile "$out/.tsbuildinfo" 2>&1 | head -40
node --experimental-vm-modules node_modules/jest/bin/jest.js "$@" --roots "<rootDir>/$out/test"
