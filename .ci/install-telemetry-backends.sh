#!/usr/bin/env bash
# Install the real telemetry backends the tests in tests/telemetry/ talk to:
#   - Prometheus from Debian (`prometheus`, 2.42 on bookworm), scraping Telemetry.metrics_payload();
#   - Arize Phoenix from PyPI, an OTLP/HTTP trace backend with a REST API, in its OWN venv under
#     .tmp/telemetry-backends/phoenix-venv so it never touches the project's .venv.
# Measured on the 2-core CI machine: apt ~10 s, Phoenix venv ~60 s (855 MB), Phoenix start ~17 s.
# Idempotent: an existing install is kept. Tests skip with a reason when a backend is missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.tmp/telemetry-backends"
phoenix_version="${PHOENIX_VERSION:-20.26.1}"
python="${PYTHON:-python3}"

install_prometheus() {
  if command -v prometheus >/dev/null 2>&1; then
    echo "prometheus: $(prometheus --version 2>&1 | head -1)"
    return
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus
  echo "prometheus: $(prometheus --version 2>&1 | head -1)"
}

install_phoenix() {
  local venv="$dest/phoenix-venv"
  if [ -x "$venv/bin/phoenix" ] && "$venv/bin/pip" show arize-phoenix 2>/dev/null \
      | grep -x "Version: $phoenix_version" >/dev/null; then
    echo "phoenix: $phoenix_version (already installed)"
    return
  fi
  mkdir -p "$dest"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "arize-phoenix==$phoenix_version"
  echo "phoenix: $phoenix_version in $venv"
}

start=$(date +%s)
install_prometheus
install_phoenix
echo "telemetry backends ready in $(( $(date +%s) - start )) s"
