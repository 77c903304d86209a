#!/usr/bin/env bash
# Install the real agent CLIs the integration tests in tests/integration/ drive through cal:
#   - Claude Code (`@anthropic-ai/claude-code`) and Codex (`@openai/codex`) from npm, pinned,
#     into a project-local prefix .tmp/agents (never global, never the user's ~/.npm-global).
# Both packages ship a native binary in a platform-specific optional dependency (~400 MB each).
# Measured on the 2-core CI machine: 33 s with an empty npm cache, 17 s with a warm one; 767 MB.
# Idempotent: an install that already has the pinned versions is kept. Tests skip with a reason
# naming this script when a CLI is missing (npm unavailable or the install failed).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${CAL_AGENTS_DIR:-$root/.tmp/agents}"
claude_version="${CLAUDE_CODE_VERSION:-2.1.330}"
codex_version="${CODEX_VERSION:-0.169.0}"

if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: the real-client integration tests will skip" >&2
  exit 1
fi

installed() {  # installed PACKAGE VERSION: is that exact version in $dest?
  local manifest="$dest/node_modules/$1/package.json"
  [ -f "$manifest" ] && grep -q "\"version\": \"$2\"" "$manifest"
}

start=$(date +%s)
mkdir -p "$dest"
wanted=()
installed @anthropic-ai/claude-code "$claude_version" || wanted+=("@anthropic-ai/claude-code@$claude_version")
installed @openai/codex "$codex_version" || wanted+=("@openai/codex@$codex_version")
if [ "${#wanted[@]}" -gt 0 ]; then
  [ -f "$dest/package.json" ] || echo '{"name": "cal-agent-clis", "private": true}' >"$dest/package.json"
  npm install --prefix "$dest" --no-audit --no-fund --loglevel=error "${wanted[@]}"
fi
echo "claude: $("$dest/node_modules/.bin/claude" --version 2>&1 | head -1)"
echo "codex: $("$dest/node_modules/.bin/codex" --version 2>&1 | head -1)"
echo "agent CLIs ready in $dest ($(( $(date +%s) - start )) s)"
